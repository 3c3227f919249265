import type pg from 'pg';
import { type BackoffPolicy, backoffMs } from '../backoff.ts';
import type { Consumer, Delivery } from '../bus.ts';
import { EventsError } from '../errors.ts';
import type { Log } from '../log.ts';
import { checkSend } from '../send-options.ts';
import { MESSAGES_TABLE } from './schema.ts';

/** What one consumer of a subscription works with. */
export interface PgConsumerOptions {
  pool: pg.Pool;
  subscription: string;
  onDelivery(delivery: Delivery): Promise<void>;
  prefetch: number;
  leaseMs: number;
  pollIntervalMs: number;
  minPollDelayMs: number;
  backoff: BackoffPolicy;
  log: Log;
  /** Called once the consumer has stopped, so the bus forgets it. */
  onStopped(consumer: PgConsumer): void;
}

interface Claimed {
  id: string;
  envelope: unknown;
  attempt: number;
  lease: string;
}

// Claims up to $2 due messages, oldest first, skipping rows another consumer is claiming right
// now, and leases them until now + $3 ms under a fresh lease id each.
const CLAIM_SQL = `UPDATE ${MESSAGES_TABLE}
  SET available_at = now() + $3 * interval '1 millisecond', lease = gen_random_uuid()
  WHERE id IN (
    SELECT id FROM ${MESSAGES_TABLE}
    WHERE subscription = $1 AND available_at <= now()
    ORDER BY available_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED)
  RETURNING id, envelope, attempt, lease`;

const NEXT_DUE_SQL = `SELECT (EXTRACT(EPOCH FROM min(available_at) - now()) * 1000)::float8 AS due_ms
  FROM ${MESSAGES_TABLE} WHERE subscription = $1`;

const RENEW_SQL = `UPDATE ${MESSAGES_TABLE} m SET available_at = now() + $3 * interval '1 millisecond'
  FROM unnest($1::bigint[], $2::uuid[]) AS held(id, lease)
  WHERE m.id = held.id AND m.lease = held.lease`;

const ACK_SQL = `DELETE FROM ${MESSAGES_TABLE} WHERE id = $1 AND lease = $2`;

const RETRY_SQL = `UPDATE ${MESSAGES_TABLE}
  SET attempt = attempt + $4, available_at = now() + $3 * interval '1 millisecond', lease = NULL
  WHERE id = $1 AND lease = $2`;

const RELEASE_SQL = `UPDATE ${MESSAGES_TABLE} SET available_at = now(), lease = NULL WHERE id = $1 AND lease = $2`;

/**
 * One consumer of a subscription on the PostgreSQL bus. It looks at the queue when told to
 * (a notification, a settled delivery that freed a slot) and otherwise when the next message is
 * due, at the latest every pollIntervalMs. Leases of unsettled deliveries are renewed every third
 * of the lease, so only a consumer that died (or cannot reach the bus) loses them.
 */
export class PgConsumer implements Consumer {
  readonly subscription: string;
  readonly #o: PgConsumerOptions;
  /** Lease id of each unsettled delivery, by message id. */
  readonly #leases = new Map<string, string>();
  readonly #running = new Set<Promise<void>>();
  readonly #renewTimer: NodeJS.Timeout;
  #stopped = false;
  #looking: Promise<void> | undefined;
  #again = false;
  #full = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = 0;
  #stopping: Promise<void> | undefined;

  constructor(options: PgConsumerOptions) {
    this.#o = options;
    this.subscription = options.subscription;
    this.#renewTimer = setInterval(() => void this.#renew(), Math.max(1, Math.floor(options.leaseMs / 3)));
  }

  /** Looks at the queue now (or right after the look in progress). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#looking) {
      this.#again = true;
      return;
    }
    this.#looking = this.#look()
      .catch((err: unknown) => {
        this.#o.log.warn({ err, subscription: this.subscription }, 'looking at the queue failed');
        this.#arm(this.#o.pollIntervalMs);
      })
      .finally(() => {
        this.#looking = undefined;
      });
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#halt();
      await this.#looking;
      await Promise.allSettled([...this.#running]);
      clearInterval(this.#renewTimer);
      this.#o.onStopped(this);
    })();
    return this.#stopping;
  }

  /** Stops at once, leaving unsettled deliveries to be delivered again when their leases run out. */
  kill(): void {
    this.#halt();
    clearInterval(this.#renewTimer);
    this.#leases.clear();
  }

  #halt(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #look(): Promise<void> {
    const { pool, subscription, prefetch, leaseMs, log } = this.#o;
    do {
      this.#again = false;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      const free = prefetch - this.#leases.size;
      this.#full = free <= 0;
      if (this.#full) return;
      let dueMs: number | null = null;
      try {
        const { rows } = await pool.query<Claimed>(CLAIM_SQL, [subscription, free, leaseMs]);
        for (const row of rows) this.#deliver(row);
        if (rows.length === free) {
          this.#again = true;
          continue;
        }
        const next = await pool.query<{ due_ms: number | null }>(NEXT_DUE_SQL, [subscription]);
        dueMs = next.rows[0]?.due_ms ?? null;
        this.#failures = 0;
      } catch (err) {
        this.#failures += 1;
        const delayMs = backoffMs(this.#failures, this.#o.backoff);
        log.warn({ err, subscription, retry_in_ms: delayMs }, 'claiming from the bus failed: trying again');
        this.#arm(delayMs);
        return;
      }
      const { pollIntervalMs, minPollDelayMs } = this.#o;
      this.#arm(dueMs === null ? pollIntervalMs : Math.min(pollIntervalMs, Math.max(minPollDelayMs, dueMs)));
    } while (this.#again && !this.#stopped);
  }

  /** Looks again in `ms`, unless a look is already due sooner. */
  #arm(ms: number): void {
    if (this.#stopped) return;
    const at = Date.now() + ms;
    if (this.#timer && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.wake();
    }, ms);
  }

  #deliver(row: Claimed): void {
    const { pool, log, subscription } = this.#o;
    this.#leases.set(row.id, row.lease);
    let settled = false;
    const settle = async (sql: string, values: unknown[]): Promise<void> => {
      if (settled) {
        throw new EventsError(
          'EVENTS_DELIVERY_SETTLED',
          'This delivery was already acked or retried: settle it once.',
        );
      }
      settled = true;
      try {
        await pool.query(sql, values);
      } catch (cause) {
        throw new EventsError(
          'EVENTS_BUS_UNAVAILABLE',
          `Settling a delivery of ${subscription} failed (${(cause as Error).message}): it will be delivered again when its lease runs out.`,
          { cause },
        );
      } finally {
        this.#settled(row.id);
      }
    };
    const delivery: Delivery = {
      body: row.envelope,
      attempt: row.attempt,
      ack: () => settle(ACK_SQL, [row.id, row.lease]),
      retry: async (delayMs, options) => {
        const ms = checkSend({ delayMs }).delayMs;
        await settle(RETRY_SQL, [row.id, row.lease, ms, options?.keepAttempt ? 0 : 1]);
        this.#arm(ms);
      },
    };
    const run = (async () => {
      try {
        await this.#o.onDelivery(delivery);
      } catch (err) {
        log.warn({ err, subscription }, 'a delivery handler threw');
      }
      if (!settled) {
        // Handing it back now beats waiting for the lease to run out.
        log.warn({ subscription }, 'a delivery was left unsettled: delivering it again');
        await settle(RELEASE_SQL, [row.id, row.lease]).catch(() => undefined);
        this.wake();
      }
    })();
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
  }

  #settled(id: string): void {
    this.#leases.delete(id);
    if (this.#full) this.wake();
  }

  async #renew(): Promise<void> {
    if (this.#leases.size === 0) return;
    const ids = [...this.#leases.keys()];
    const leases = [...this.#leases.values()];
    try {
      await this.#o.pool.query(RENEW_SQL, [ids, leases, this.#o.leaseMs]);
    } catch (err) {
      this.#o.log.warn({ err, subscription: this.subscription }, 'renewing delivery leases failed');
    }
  }
}
