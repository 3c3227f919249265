import { ENV, type InstanceIdentity } from '@flotilla/spec';
import pg from 'pg';
import type { Logger } from 'pino';
import { RUNTIME_DEFAULTS } from './defaults.ts';
import { RuntimeError } from './errors.ts';

type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: unknown) => void,
) => void;

/**
 * Thrown by `connect()` (and so by `query()`) when as many requests already wait for a connection
 * as the pool lets wait: the request is answered 503 OVERLOADED at once instead of joining a queue
 * it would leave only by timing out.
 */
export class DatabasePoolFullError extends Error {
  readonly code = 'FLOTILLA_DATABASE_POOL_FULL';

  constructor(waiting: number) {
    super(`${waiting} requests already wait for a database connection: shed this one and retry later.`);
    this.name = 'DatabasePoolFullError';
  }
}

/**
 * Thrown by `connect()` when every connection of the pool is busy and none freed up within the
 * acquire timeout: answered 503 OVERLOADED, well before a client would give up.
 */
export class DatabaseAcquireTimeoutError extends Error {
  readonly code = 'FLOTILLA_DATABASE_ACQUIRE_TIMEOUT';

  constructor(waitedMs: number) {
    super(`No database connection freed up within ${waitedMs} ms: shed this request and retry later.`);
    this.name = 'DatabaseAcquireTimeoutError';
  }
}

/** What a pool needs besides pg's own options. */
export interface GuardedPoolOptions {
  /** Requests that may wait for a busy pool at once; the next one fails with DatabasePoolFullError. */
  waitingMax: number;
  /** How long a request waits for a busy pool before it fails with DatabaseAcquireTimeoutError. */
  acquireTimeoutMs: number;
  log: Logger;
}

/**
 * A pg pool whose clients cannot take the process down. pg emits `'error'` on a client whose
 * connection breaks (a terminated backend, a restarted server), and pg-pool listens only while the
 * client is idle: a checked-out client without a listener of its own would end the process with
 * an unhandled error. Here every client gets a listener when it is created, for its whole life, so
 * no service can forget one; a client that failed while checked out is marked broken, and its
 * release() destroys it instead of handing its dead connection to the next request. The queries in
 * flight on it fail on their own, and the request listener answers them 503.
 *
 * It also sheds load early when every connection is busy: at most `waitingMax` requests wait, each
 * at most `acquireTimeoutMs`. Opening a new connection keeps pg's own, longer
 * `connectionTimeoutMillis`: a busy machine may take seconds to start a backend, and start-up
 * (migrations) must not fail for that.
 */
export class GuardedPool extends pg.Pool {
  readonly #waitingMax: number;
  readonly #acquireTimeoutMs: number;
  readonly #log: Logger;
  /** Clients handed out and not yet released, and how many. */
  readonly #held = new WeakSet<pg.PoolClient>();
  #heldCount = 0;
  /** Requests asking for a connection now, and how many of them found every connection claimed. */
  #asking = 0;
  #queued = 0;
  readonly #broken = new WeakSet<pg.PoolClient>();

  constructor(config: pg.PoolConfig, options: GuardedPoolOptions) {
    super(config);
    this.#waitingMax = options.waitingMax;
    this.#acquireTimeoutMs = options.acquireTimeoutMs;
    this.#log = options.log;
    // An idle client that loses its connection emits here; pg-pool has already removed it.
    this.on('error', (err) => this.#log.warn({ err }, 'idle database connection failed'));
    this.on('connect', (client) => client.on('error', (err) => this.#failed(client, err)));
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    const acquired = this.#acquire();
    if (!callback) return acquired;
    // pool.query() takes this path; the callback runs outside the promise, as pg-pool runs it.
    acquired.then(
      (client) =>
        process.nextTick(callback, undefined, client, (err?: unknown) => client.release(err as Error)),
      (err: Error) => process.nextTick(callback, err, undefined, () => undefined),
    );
    return undefined;
  }

  async #acquire(): Promise<pg.PoolClient> {
    // Counted when asked, not when served: pg-pool hands connections out a tick later, and a burst
    // arrives within one tick. Busy means a connection is claimed for every request already asking
    // or holding one; the others (start-up, a reconnect) wait with pg's connect timeout instead.
    const busy = !this.ending && this.#heldCount + this.#asking >= (this.options.max ?? 10);
    if (busy && this.#queued >= this.#waitingMax) throw new DatabasePoolFullError(this.#queued);
    this.#asking++;
    if (busy) this.#queued++;
    try {
      return this.#guard(await (busy ? this.#waitAtMost(super.connect()) : super.connect()));
    } finally {
      this.#asking--;
      if (busy) this.#queued--;
    }
  }

  /** The connection pending, or DatabaseAcquireTimeoutError once the acquire timeout passes. */
  #waitAtMost(pending: Promise<pg.PoolClient>): Promise<pg.PoolClient> {
    return new Promise((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new DatabaseAcquireTimeoutError(this.#acquireTimeoutMs));
      }, this.#acquireTimeoutMs);
      pending.then(
        (client) => {
          clearTimeout(timer);
          // pg-pool cannot take a waiter back: the connection it hands too late goes to the next one.
          if (timedOut) client.release();
          else resolve(client);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  #guard(client: pg.PoolClient): pg.PoolClient {
    this.#held.add(client);
    this.#heldCount++;
    // pg-pool sets a fresh release on every checkout, so this wraps the one of this checkout.
    const release = client.release;
    client.release = (err?: Error | boolean) => {
      // A second release is pg-pool's to refuse; it must not count twice here.
      if (this.#held.delete(client)) this.#heldCount--;
      release(
        err || (this.#broken.has(client) ? new Error('the connection broke while checked out') : undefined),
      );
    };
    return client;
  }

  #failed(client: pg.PoolClient, err: Error): void {
    if (!this.#held.has(client) || this.#broken.has(client)) return;
    this.#broken.add(client);
    this.#log.warn({ err }, 'database connection lost while in use: it will be discarded on release');
  }
}

/**
 * The service's PostgreSQL pool, from DATABASE_URL. Connections are opened on first use; the
 * pool names itself after the instance so `pg_stat_activity` shows who holds what.
 */
export function createPool(env: NodeJS.ProcessEnv, identity: InstanceIdentity, log: Logger): pg.Pool {
  const url = env[ENV.databaseUrl];
  if (!url) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_MISSING',
      `Service ${identity.service} uses a database but ${ENV.databaseUrl} is not set: set it to a postgres:// URL, or set database: true for the service in flotilla.yaml.`,
    );
  }
  return new GuardedPool(
    {
      connectionString: url,
      max: RUNTIME_DEFAULTS.databasePoolMax,
      connectionTimeoutMillis: RUNTIME_DEFAULTS.databaseConnectTimeoutMs,
      application_name: identity.instance,
    },
    {
      waitingMax: RUNTIME_DEFAULTS.databaseWaitingMax,
      acquireTimeoutMs: RUNTIME_DEFAULTS.databaseAcquireTimeoutMs,
      log,
    },
  );
}
