import type pg from 'pg';
import { type BackoffPolicy, backoffMs } from '../backoff.ts';
import type { Bus } from '../bus.ts';
import { EVENTS_DEFAULTS } from '../defaults.ts';
import { diagnostics } from '../diagnostics.ts';
import type { EventEnvelope } from '../envelope.ts';
import { type Log, silentLog } from '../log.ts';
import { type Listener, startListener } from '../pg-listener.ts';
import { inTransaction } from '../transaction.ts';
import { OUTBOX_CHANNEL, OUTBOX_TABLE } from './table.ts';

/** What a relay reads from and publishes to. */
export interface OutboxRelayOptions {
  /** The producing service's database, which holds the outbox. */
  db: pg.Pool;
  bus: Bus;
  log?: Log;
  /** Rows claimed, published and deleted per transaction. @default 100 */
  batchSize?: number;
  /** Longest wait between looks at the outbox when no notification comes. @default 1_000 */
  pollIntervalMs?: number;
  /** Backoff while the bus refuses events. @default 100 ms doubling to 10 s, ±20 % */
  backoff?: BackoffPolicy;
}

interface Row {
  id: string;
  envelope: EventEnvelope;
}

/** What one pass over a batch did. */
interface Pass {
  published: EventEnvelope[];
  /** The first event the bus refused, why, and how many it refused. */
  refused: { envelope: EventEnvelope | undefined; err: unknown; count: number } | undefined;
  full: boolean;
}

/**
 * Moves events from a service's outbox to the bus. It looks when an outbox write notifies (at
 * commit) and at least every pollIntervalMs. Each pass claims a batch with FOR UPDATE SKIP
 * LOCKED, so relays of other replicas take other rows, publishes them, deletes those the bus
 * confirmed and commits. While the bus refuses events they stay in the outbox and the relay backs
 * off, ignoring notifications, until a pass succeeds.
 *
 * Publishing is at least once: a row is deleted only after the bus confirmed its event and the
 * deletion committed. An event in flight when that fails (the connection to the bus dropped before
 * the confirm came back, or the relay crashed or lost its database before the commit) stays in the
 * outbox and is published again: one more copy per failure it was in flight through, so at most a
 * batch of copies per failure. Consumers' inboxes drop the duplicates by event id. No order is
 * promised: a batch is published concurrently and replicas' relays publish side by side.
 */
export class OutboxRelay {
  readonly #db: pg.Pool;
  readonly #bus: Bus;
  readonly #log: Log;
  readonly #batchSize: number;
  readonly #pollIntervalMs: number;
  readonly #backoff: BackoffPolicy;
  #listener: Listener | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: OutboxRelayOptions) {
    const defaults = EVENTS_DEFAULTS.relay;
    this.#db = options.db;
    this.#bus = options.bus;
    this.#log = options.log ?? silentLog;
    this.#batchSize = options.batchSize ?? defaults.batchSize;
    this.#pollIntervalMs = options.pollIntervalMs ?? defaults.pollIntervalMs;
    this.#backoff = options.backoff ?? defaults.backoff;
  }

  /** Starts listening and relays what is already waiting. */
  start(): void {
    this.#listener ??= startListener({
      client: this.#db.options,
      channel: OUTBOX_CHANNEL,
      onNotify: () => this.#wake(false),
      onConnect: () => this.#wake(false),
      log: this.#log,
      reconnect: EVENTS_DEFAULTS.postgres.backoff,
    });
    this.#wake(false);
  }

  /** Stops listening and resolves once the pass in progress has committed or rolled back. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#listener?.close();
    await this.#running;
  }

  /** Looks at the outbox now, unless the relay is backing off and this is not its timer. */
  #wake(byTimer: boolean): void {
    if (this.#stopped || (this.#failures > 0 && !byTimer)) return;
    if (this.#running) {
      this.#again = true;
      // A run past its loop (counting the backlog after a failure) would swallow its backoff's
      // timer, and the relay would never look again: look again later instead.
      if (byTimer) this.#arm(this.#pollIntervalMs);
      return;
    }
    this.#running = this.#run()
      .catch((err: unknown) => {
        this.#log.warn({ err }, 'the outbox relay failed: looking again later');
        this.#arm(this.#pollIntervalMs);
      })
      .finally(() => {
        this.#running = undefined;
      });
  }

  async #run(): Promise<void> {
    do {
      this.#again = false;
      clearTimeout(this.#timer);
      let pass: Pass;
      try {
        pass = await this.#pass();
      } catch (err) {
        this.#backOff({ envelope: undefined, err, count: 0 });
        break;
      }
      for (const envelope of pass.published) diagnostics.published.publish({ relay: this, envelope });
      if (pass.refused) {
        this.#backOff(pass.refused);
        break;
      }
      this.#failures = 0;
      if (pass.full) this.#again = true;
    } while (this.#again && !this.#stopped);
    if (this.#failures > 0) {
      await this.#reportPending();
      return;
    }
    this.#arm(this.#pollIntervalMs);
    // The last pass found less than a batch: only rows other relays hold right now are left.
    if (diagnostics.outbox.hasSubscribers) diagnostics.outbox.publish({ relay: this, pending: 0 });
  }

  /** Claims a batch, publishes it, deletes what the bus confirmed and commits. */
  #pass(): Promise<Pass> {
    return inTransaction(this.#db, async (tx) => {
      const { rows } = await tx.query<Row>(
        `SELECT id, envelope FROM ${OUTBOX_TABLE} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.#batchSize],
      );
      const results = await Promise.allSettled(rows.map((row) => this.#bus.publish(row.envelope)));
      const done = rows.filter((_, i) => results[i]?.status === 'fulfilled');
      if (done.length > 0) {
        await tx.query(`DELETE FROM ${OUTBOX_TABLE} WHERE id = ANY($1::bigint[])`, [done.map((r) => r.id)]);
      }
      const first = results.findIndex((r) => r.status === 'rejected');
      return {
        published: done.map((r) => r.envelope),
        refused:
          first < 0
            ? undefined
            : {
                envelope: rows[first]?.envelope,
                err: (results[first] as PromiseRejectedResult).reason,
                count: rows.length - done.length,
              },
        full: rows.length === this.#batchSize,
      };
    });
  }

  /** Logs the failure (the event's id and type, never its data) and looks again after the backoff. */
  #backOff(refused: NonNullable<Pass['refused']>): void {
    const { envelope, err, count } = refused;
    this.#failures += 1;
    const delayMs = backoffMs(this.#failures, this.#backoff);
    this.#log.warn(
      { err, event_id: envelope?.id, event_type: envelope?.type, refused: count, retry_in_ms: delayMs },
      envelope
        ? 'the bus refused events from the outbox: they stay there and are tried again'
        : 'relaying the outbox failed: trying again',
    );
    this.#arm(delayMs);
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#wake(true);
    }, ms);
  }

  /** Counts the outbox while the bus refuses events, when the backlog is worth watching. */
  async #reportPending(): Promise<void> {
    if (!diagnostics.outbox.hasSubscribers) return;
    try {
      const { rows } = await this.#db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${OUTBOX_TABLE}`);
      diagnostics.outbox.publish({ relay: this, pending: rows[0]?.n ?? 0 });
    } catch {
      // The gauge keeps its last value; the next pass reports again.
    }
  }
}
