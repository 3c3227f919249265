import { type Bus, type DeadLetter, EventsError, listDeadLetters, replayDeadLetters } from '@flotilla/events';
import pg from 'pg';
import type { Logger } from 'pino';
import { ApiError, type DeadLetterSource } from '../api/index.ts';
import { BUS_DEFAULTS } from '../defaults.ts';
import type { DeadLetterEntry } from '../types.ts';

/** Where the dead letters are and how to send them back. */
export interface ServiceDeadLettersOptions {
  /** DATABASE_URL of each service that subscribes to events: its dead letters live there. */
  databaseUrls: Readonly<Record<string, string>>;
  /** The control plane's own client of the bus, which replays send through. */
  bus: Bus;
  connectTimeoutMs: number;
  log: Logger;
}

/**
 * The dead letters of the consuming services, read from and replayed out of each service's own
 * database (table flotilla_dead_letters, written by its inbox consumer). A small pool per service
 * is opened on first use only, so a system whose dead letters nobody looks at holds no connection
 * to its services' databases.
 */
export class ServiceDeadLetters implements DeadLetterSource {
  readonly services: readonly string[];
  readonly #databaseUrls: Readonly<Record<string, string>>;
  readonly #bus: Bus;
  readonly #connectTimeoutMs: number;
  readonly #log: Logger;
  readonly #pools = new Map<string, pg.Pool>();
  #closed = false;

  constructor(options: ServiceDeadLettersOptions) {
    this.services = Object.keys(options.databaseUrls).sort();
    this.#databaseUrls = options.databaseUrls;
    this.#bus = options.bus;
    this.#connectTimeoutMs = options.connectTimeoutMs;
    this.#log = options.log;
  }

  async list(service: string | undefined, limit: number): Promise<DeadLetterEntry[]> {
    const services = service === undefined ? this.services : [service];
    const lists = await Promise.all(
      services.map(async (name) => {
        const letters = await this.#use(name, 'read', (pool) => listDeadLetters(pool, { limit }));
        return letters.map((letter) => toEntry(name, letter));
      }),
    );
    return lists.flat().sort(oldestFirst).slice(0, limit);
  }

  async replay(service: string, ids: readonly string[] | 'all'): Promise<string[]> {
    const replayed = await this.#use(service, 'replay', (pool) =>
      replayDeadLetters(pool, this.#bus, ids === 'all' ? undefined : ids),
    );
    return replayed.map((letter) => letter.id);
  }

  /** Closes the pools opened so far; later calls answer that the control plane is stopping. */
  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.end()));
  }

  /** Runs `work` on the service's pool, turning failures into answers that say what to do. */
  async #use<T>(service: string, doing: string, work: (pool: pg.Pool) => Promise<T>): Promise<T> {
    try {
      return await work(this.#pool(service));
    } catch (error) {
      if (error instanceof ApiError) throw error;
      // The events package words its bus errors for people (what was replayed, what to do next).
      if (
        error instanceof EventsError &&
        (error.code === 'EVENTS_BUS_UNAVAILABLE' || error.code === 'EVENTS_BUS_CLOSED')
      ) {
        throw new ApiError('UNAVAILABLE', { message: error.message, cause: error });
      }
      this.#log.warn({ err: error, service }, `could not ${doing} dead letters`);
      throw new ApiError('UNAVAILABLE', {
        message: `Could not ${doing} the dead letters of "${service}" in its database (the control plane's log says why); check PostgreSQL with flotilla status, then try again.`,
        cause: error,
      });
    }
  }

  #pool(service: string): pg.Pool {
    if (this.#closed) throw new ApiError('UNAVAILABLE');
    let pool = this.#pools.get(service);
    if (!pool) {
      pool = new pg.Pool({
        connectionString: this.#databaseUrls[service],
        max: BUS_DEFAULTS.deadLetterPoolMax,
        idleTimeoutMillis: BUS_DEFAULTS.deadLetterIdleMs,
        connectionTimeoutMillis: this.#connectTimeoutMs,
        application_name: 'flotilla-control-plane',
      });
      // An idle connection that breaks emits here; unhandled, that would end the control plane.
      pool.on('error', (err) => this.#log.warn({ err, service }, 'idle dead-letter connection failed'));
      this.#pools.set(service, pool);
    }
    return pool;
  }
}

/** A dead letter as the admin API shows it, with the event's id and type when its envelope has them. */
function toEntry(service: string, letter: DeadLetter): DeadLetterEntry {
  const envelope = (
    typeof letter.envelope === 'object' && letter.envelope !== null ? letter.envelope : {}
  ) as {
    id?: unknown;
    type?: unknown;
  };
  return {
    service,
    id: letter.id,
    subscription: letter.subscription,
    eventId: typeof envelope.id === 'string' ? envelope.id : null,
    type: typeof envelope.type === 'string' ? envelope.type : null,
    error: letter.error,
    attempts: letter.attempts,
    failedAt: letter.failedAt.toISOString(),
  };
}

function oldestFirst(a: DeadLetterEntry, b: DeadLetterEntry): number {
  if (a.failedAt !== b.failedAt) return a.failedAt < b.failedAt ? -1 : 1;
  if (a.service !== b.service) return a.service < b.service ? -1 : 1;
  return Number(BigInt(a.id) - BigInt(b.id));
}
