import pg from 'pg';
import type { Bus, ConsumeOptions, Consumer, Delivery, SendOptions } from '../bus.ts';
import { createTables } from '../create-tables.ts';
import { EVENTS_DEFAULTS } from '../defaults.ts';
import { assertEventType, type EventEnvelope } from '../envelope.ts';
import { EventsError } from '../errors.ts';
import { type Log, silentLog } from '../log.ts';
import { assertSubscriptionName } from '../names.ts';
import { type Listener, startListener } from '../pg-listener.ts';
import { checkSend, resolvePrefetch } from '../send-options.ts';
import { PgConsumer } from './consumer.ts';
import { BUS_CHANNEL, BUS_SCHEMA_SQL, MESSAGES_TABLE, SUBSCRIPTIONS_TABLE } from './schema.ts';

/** How a PostgreSQL bus is reached and paced. */
export interface PostgresBusOptions {
  /** `postgres://` URL of the bus's own database. */
  url: string;
  log?: Log;
  /** How long a claim holds a delivery before another consumer may take it; renewed while unsettled. @default 30_000 */
  leaseMs?: number;
  /** Longest wait between looks at a queue when no notification comes. @default 1_000 */
  pollIntervalMs?: number;
}

const DECLARE_SQL = `INSERT INTO ${SUBSCRIPTIONS_TABLE} AS s (name, types) VALUES ($1, $2::text[])
  ON CONFLICT (name) DO UPDATE
  SET types = ARRAY(SELECT DISTINCT t FROM unnest(s.types || EXCLUDED.types) AS t ORDER BY t)`;

// One row per subscription of the type, then one notification per subscription, all in the
// statement's own transaction, so the event is either in every queue or in none.
const PUBLISH_SQL = `WITH queued AS (
    INSERT INTO ${MESSAGES_TABLE} (subscription, envelope)
    SELECT name, $1::jsonb FROM ${SUBSCRIPTIONS_TABLE} WHERE $2 = ANY(types)
    RETURNING subscription)
  SELECT pg_notify($3, subscription) FROM (SELECT DISTINCT subscription FROM queued) AS s`;

const SEND_SQL = `WITH queued AS (
    INSERT INTO ${MESSAGES_TABLE} (subscription, envelope, attempt, available_at)
    VALUES ($1, $2::jsonb, $3, now() + $4 * interval '1 millisecond')
    RETURNING subscription)
  SELECT pg_notify($5, subscription) FROM queued`;

/**
 * The event bus on PostgreSQL: a queue table in a database of its own, with LISTEN/NOTIFY to
 * deliver at once and polling as the backstop. Tables are created on first use.
 */
export class PostgresBus implements Bus {
  readonly #log: Log;
  readonly #leaseMs: number;
  readonly #pollIntervalMs: number;
  readonly #pool: pg.Pool;
  readonly #consumers = new Set<PgConsumer>();
  #schema: Promise<void> | undefined;
  #listener: Listener | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: PostgresBusOptions) {
    const defaults = EVENTS_DEFAULTS.postgres;
    this.#log = options.log ?? silentLog;
    this.#leaseMs = options.leaseMs ?? defaults.leaseMs;
    this.#pollIntervalMs = options.pollIntervalMs ?? defaults.pollIntervalMs;
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: defaults.poolMax,
      connectionTimeoutMillis: defaults.connectTimeoutMs,
      query_timeout: defaults.queryTimeoutMs,
      application_name: 'flotilla-bus',
    });
    // An idle connection that breaks emits here; unhandled, that would end the process.
    this.#pool.on('error', (err) => this.#log.warn({ err }, 'idle bus connection failed'));
    // pg-pool listens only while a client is idle, and a connection that breaks while checked out
    // (a terminated backend between two statements of createTables' transaction) emits on the
    // client. Its statements fail on their own and pg-pool discards it on release; this listener
    // only keeps the error from ending the process.
    this.#pool.on('connect', (client) =>
      client.on('error', (err) => this.#log.debug({ err }, 'bus connection failed while in use')),
    );
  }

  async declare(subscription: string, types: readonly string[]): Promise<void> {
    assertSubscriptionName(subscription);
    for (const type of types) assertEventType(type);
    await this.#query('declaring a subscription', DECLARE_SQL, [subscription, [...types]]);
  }

  async publish(envelope: EventEnvelope): Promise<void> {
    await this.#query('publishing', PUBLISH_SQL, [JSON.stringify(envelope), envelope.type, BUS_CHANNEL]);
  }

  async send(subscription: string, envelope: EventEnvelope, options: SendOptions = {}): Promise<void> {
    assertSubscriptionName(subscription);
    const { attempt, delayMs } = checkSend(options);
    await this.#query('sending', SEND_SQL, [
      subscription,
      JSON.stringify(envelope),
      attempt,
      delayMs,
      BUS_CHANNEL,
    ]);
  }

  async consume(
    subscription: string,
    onDelivery: (delivery: Delivery) => Promise<void>,
    options: ConsumeOptions = {},
  ): Promise<Consumer> {
    assertSubscriptionName(subscription);
    const prefetch = resolvePrefetch(options.prefetch);
    await this.#ready();
    const defaults = EVENTS_DEFAULTS.postgres;
    const consumer = new PgConsumer({
      pool: this.#pool,
      subscription,
      onDelivery,
      prefetch,
      leaseMs: this.#leaseMs,
      pollIntervalMs: this.#pollIntervalMs,
      minPollDelayMs: defaults.minPollDelayMs,
      backoff: defaults.backoff,
      log: this.#log,
      onStopped: (c) => this.#consumers.delete(c),
    });
    this.#consumers.add(consumer);
    this.#listener ??= startListener({
      client: this.#pool.options,
      channel: BUS_CHANNEL,
      onNotify: (name) => {
        for (const c of this.#consumers) if (c.subscription === name) c.wake();
      },
      onConnect: () => {
        for (const c of this.#consumers) c.wake();
      },
      log: this.#log,
      reconnect: defaults.backoff,
    });
    consumer.wake();
    return consumer;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const consumer of this.#consumers) consumer.kill();
      this.#consumers.clear();
      await this.#listener?.close();
      await this.#pool.end();
    })();
    return this.#closing;
  }

  /** Creates the tables once per bus; a failure is not remembered, so the next call tries again. */
  #ready(): Promise<void> {
    if (this.#closing) {
      return Promise.reject(new EventsError('EVENTS_BUS_CLOSED', 'The bus was closed: create a new one.'));
    }
    this.#schema ??= createTables(this.#pool, EVENTS_DEFAULTS.postgres.tablesLockKey, BUS_SCHEMA_SQL).catch(
      (cause: Error) => {
        this.#schema = undefined;
        throw unavailable('creating the bus tables', cause);
      },
    );
    return this.#schema;
  }

  async #query(doing: string, sql: string, values: unknown[]): Promise<void> {
    await this.#ready();
    try {
      await this.#pool.query(sql, values);
    } catch (cause) {
      throw unavailable(doing, cause as Error);
    }
  }
}

function unavailable(doing: string, cause: Error): EventsError {
  return new EventsError(
    'EVENTS_BUS_UNAVAILABLE',
    `The PostgreSQL bus failed ${doing} (${cause.message}): check that its database is reachable; the outbox keeps events until it is.`,
    { cause },
  );
}
