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

/** What a pool needs besides pg's own options. */
export interface GuardedPoolOptions {
  /** Requests that may wait for a connection at once; the next one fails with DatabasePoolFullError. */
  waitingMax: number;
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
 * It also bounds the queue of requests waiting for a connection (`waitingMax`), shedding load at
 * once rather than after the acquire timeout.
 */
export class GuardedPool extends pg.Pool {
  readonly #waitingMax: number;
  readonly #log: Logger;
  /** Clients handed out and not yet released. */
  readonly #held = new WeakSet<pg.PoolClient>();
  readonly #broken = new WeakSet<pg.PoolClient>();

  constructor(config: pg.PoolConfig, options: GuardedPoolOptions) {
    super(config);
    this.#waitingMax = options.waitingMax;
    this.#log = options.log;
    // An idle client that loses its connection emits here; pg-pool has already removed it.
    this.on('error', (err) => this.#log.warn({ err }, 'idle database connection failed'));
    this.on('connect', (client) => client.on('error', (err) => this.#failed(client, err)));
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    const full = !this.ending && this.waitingCount >= this.#waitingMax;
    if (callback) {
      if (full) callback(new DatabasePoolFullError(this.waitingCount), undefined, () => undefined);
      else
        super.connect((err, client) =>
          callback(err, client && this.#guard(client), (e) => client?.release(e as Error)),
        );
      return undefined;
    }
    if (full) return Promise.reject(new DatabasePoolFullError(this.waitingCount));
    return super.connect().then((client) => this.#guard(client));
  }

  #guard(client: pg.PoolClient): pg.PoolClient {
    this.#held.add(client);
    // pg-pool sets a fresh release on every checkout, so this wraps the one of this checkout.
    const release = client.release;
    client.release = (err?: Error | boolean) => {
      this.#held.delete(client);
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
      connectionTimeoutMillis: RUNTIME_DEFAULTS.databaseAcquireTimeoutMs,
      application_name: identity.instance,
    },
    { waitingMax: RUNTIME_DEFAULTS.databaseWaitingMax, log },
  );
}
