import type pg from 'pg';
import { backoffMs } from '../backoff.ts';
import type { Bus, Consumer, Delivery } from '../bus.ts';
import { EVENTS_DEFAULTS } from '../defaults.ts';
import { type ConsumeOutcome, diagnostics } from '../diagnostics.ts';
import { type EventEnvelope, parseEnvelope } from '../envelope.ts';
import type { EventHandler } from '../handler.ts';
import { type Log, silentLog } from '../log.ts';
import { type EventsOptions, type ResolvedEventsOptions, resolveEventsOptions } from '../options.ts';
import { inTransaction } from '../transaction.ts';
import { DEAD_LETTERS_TABLE, INBOX_TABLE } from './tables.ts';

/** What an inbox consumer reads from, writes to and runs. */
export interface InboxConsumerOptions extends EventsOptions {
  /** The consuming service's database, which holds its inbox and dead letters. */
  db: pg.Pool;
  bus: Bus;
  /** The subscription to consume, named after the service. */
  subscription: string;
  /** One handler per event type. */
  handlers: ReadonlyMap<string, EventHandler>;
  log?: Log;
}

/** Longest error text kept with a dead letter. */
const ERROR_TEXT_MAX = 4_000;

/**
 * Consumes a subscription so that each event's effect happens once. Per delivery: BEGIN, record
 * the event id in the inbox (a duplicate finds it there, commits and acks), run the handler with
 * the same transaction, COMMIT, ack. A handler that throws is rolled back and retried with
 * jittered exponential backoff; after maxAttempts, or at once for an envelope that does not parse
 * or a type with no handler, the event goes to the dead letters, so nothing is lost and nothing
 * loops. A database that fails before the handler runs is retried without end rather than counted,
 * so an outage of the service's own database dead-letters nothing. An ack that fails after the
 * commit only means a redelivery, which the inbox drops.
 */
export class InboxConsumer {
  readonly #db: pg.Pool;
  readonly #bus: Bus;
  readonly #subscription: string;
  readonly #handlers: ReadonlyMap<string, EventHandler>;
  readonly #log: Log;
  readonly #options: ResolvedEventsOptions;
  #consumer: Consumer | undefined;

  constructor(options: InboxConsumerOptions) {
    this.#db = options.db;
    this.#bus = options.bus;
    this.#subscription = options.subscription;
    this.#handlers = options.handlers;
    this.#log = options.log ?? silentLog;
    this.#options = resolveEventsOptions(options);
  }

  /** Starts taking deliveries. */
  async start(): Promise<void> {
    this.#consumer ??= await this.#bus.consume(this.#subscription, (d) => this.#handle(d), {
      prefetch: this.#options.prefetch,
    });
  }

  /** Takes no new deliveries and resolves once the handlers in flight have finished. */
  async stop(): Promise<void> {
    await this.#consumer?.stop();
  }

  async #handle(delivery: Delivery): Promise<void> {
    let envelope: EventEnvelope;
    try {
      envelope = parseEnvelope(delivery.body);
    } catch (err) {
      return this.#deadLetter(delivery, undefined, err);
    }
    const handler = this.#handlers.get(envelope.type);
    if (!handler) {
      const err = new Error(
        `${this.#subscription} has no handler for ${envelope.type}: add one with events.on('${envelope.type}', ...), or stop subscribing to it, then replay.`,
      );
      return this.#deadLetter(delivery, envelope, err);
    }
    let outcome: ConsumeOutcome;
    let handlerRan = false;
    try {
      outcome = await inTransaction(this.#db, async (tx) => {
        const recorded = await tx.query(
          `INSERT INTO ${INBOX_TABLE} (event_id, type) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING`,
          [envelope.id, envelope.type],
        );
        if (recorded.rowCount === 0) return 'duplicate';
        handlerRan = true;
        await handler(envelope, tx);
        return 'processed';
      });
    } catch (err) {
      const { maxAttempts } = this.#options.retry;
      // Only the handler's own failures use up attempts: an unreachable database is waited out.
      if (handlerRan && delivery.attempt >= maxAttempts) return this.#deadLetter(delivery, envelope, err);
      const delayMs = backoffMs(delivery.attempt, {
        ...this.#options.retry,
        jitter: EVENTS_DEFAULTS.retryJitter,
      });
      this.#log.warn(
        {
          err,
          ...about(envelope),
          attempt: delivery.attempt,
          max_attempts: maxAttempts,
          retry_in_ms: delayMs,
        },
        handlerRan
          ? 'event handler failed: retrying'
          : "the service's database failed before the handler ran: retrying",
      );
      const keepAttempt = !handlerRan;
      if (await this.#settle(() => delivery.retry(delayMs, { keepAttempt }), envelope)) {
        this.#report(envelope, 'retried');
      }
      return;
    }
    if (await this.#settle(() => delivery.ack(), envelope)) this.#report(envelope, outcome);
  }

  /** Keeps the event and why it failed in the dead letters, then acks it; never loses it. */
  async #deadLetter(delivery: Delivery, envelope: EventEnvelope | undefined, err: unknown): Promise<void> {
    try {
      await this.#db.query(
        `INSERT INTO ${DEAD_LETTERS_TABLE} (subscription, envelope, error, attempts) VALUES ($1, $2::jsonb, $3, $4)`,
        [this.#subscription, JSON.stringify(envelope ?? delivery.body), describe(err), delivery.attempt],
      );
    } catch (dbErr) {
      // Acking now would lose the event: leave it on the bus and try again later.
      const delayMs = this.#options.retry.maxDelayMs;
      this.#log.warn(
        { err: dbErr, ...about(envelope), retry_in_ms: delayMs },
        'writing a dead letter failed: the event stays on the bus',
      );
      await this.#settle(() => delivery.retry(delayMs), envelope);
      return;
    }
    this.#log.warn(
      { err, ...about(envelope), attempts: delivery.attempt },
      'event moved to the dead letters: fix the cause, then replay it with flotilla',
    );
    if (await this.#settle(() => delivery.ack(), envelope)) this.#report(envelope, 'dead_lettered');
  }

  /** Runs ack or retry; a failure is logged, since the bus then delivers the event again. */
  async #settle(settle: () => Promise<void>, envelope: EventEnvelope | undefined): Promise<boolean> {
    try {
      await settle();
      return true;
    } catch (err) {
      this.#log.warn({ err, ...about(envelope) }, 'settling a delivery failed: it will be delivered again');
      return false;
    }
  }

  #report(envelope: EventEnvelope | undefined, outcome: ConsumeOutcome): void {
    if (!diagnostics.consumed.hasSubscribers) return;
    diagnostics.consumed.publish({
      consumer: this,
      subscription: this.#subscription,
      type: envelope?.type,
      outcome,
    });
  }
}

/** The fields logged about an event: its id and type, never its data. */
function about(envelope: EventEnvelope | undefined): { event_id?: string; event_type?: string } {
  return envelope ? { event_id: envelope.id, event_type: envelope.type } : {};
}

function describe(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > ERROR_TEXT_MAX ? `${text.slice(0, ERROR_TEXT_MAX)}...` : text;
}
