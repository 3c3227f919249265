import { HEADERS } from '@flotilla/spec';
import pg from 'pg';
import { HttpError } from './errors.ts';

/** What a database error means for the request that met it. */
export type DatabaseFailureKind =
  /** The client sent a value PostgreSQL cannot store or compare: its mistake, 400. */
  | 'invalid-value'
  /** The pool has more waiting than it takes: retry later, and not at once elsewhere. */
  | 'overloaded'
  /** The database cannot be reached, or dropped the connection: retry later. */
  | 'unavailable';

/** What pg-pool throws when no connection frees up within `connectionTimeoutMillis`. */
const POOL_TIMEOUT = 'timeout exceeded when trying to connect';

/** The codes of the runtime pool's own refusals (database.ts). */
const POOL_REFUSALS = new Set(['FLOTILLA_DATABASE_POOL_FULL', 'FLOTILLA_DATABASE_ACQUIRE_TIMEOUT']);

/**
 * SQLSTATEs of a database that is away or going away: connection exceptions (class 08), the
 * server shutting down or restarting (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
 * cannot_connect_now, which is also "starting up" and "in recovery"), an idle session it closed
 * (57P05), and too many connections (53300).
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '57P05', '53300']);

/** Node's codes for a connection that could not be made or was cut. */
const UNAVAILABLE_SYSCALL_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EAI_AGAIN',
]);

/**
 * pg's own messages for a connection that broke or never came: these errors carry no code.
 * "Connection terminated" alone is a client ended on purpose (the pool closing at shutdown).
 */
const UNAVAILABLE_MESSAGES = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'timeout expired',
]);

/** Causes followed at most: a handler may wrap a database error in its own, once or twice. */
const CAUSE_DEPTH_MAX = 5;

/**
 * Which database failure `err` is, if any: a pure function of the error, its code and message,
 * following `cause` (and an AggregateError's `errors`, as Node's connect throws for several
 * addresses) so that a handler that wraps the error still gets the right answer.
 */
export function classifyDatabaseError(err: unknown, depth = 0): DatabaseFailureKind | undefined {
  if (!(err instanceof Error) || depth > CAUSE_DEPTH_MAX) return undefined;
  const code = (err as { code?: unknown }).code;
  if (err instanceof pg.DatabaseError && typeof code === 'string') {
    if (code.startsWith('22')) return 'invalid-value';
    if (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code)) return 'unavailable';
    return undefined;
  }
  if ((typeof code === 'string' && POOL_REFUSALS.has(code)) || err.message === POOL_TIMEOUT)
    return 'overloaded';
  if (typeof code === 'string' && UNAVAILABLE_SYSCALL_CODES.has(code)) return 'unavailable';
  if (UNAVAILABLE_MESSAGES.has(err.message)) return 'unavailable';
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const kind = classifyDatabaseError(inner, depth + 1);
      if (kind) return kind;
    }
  }
  return classifyDatabaseError(err.cause, depth + 1);
}

/**
 * The answer to a request that failed on its database, or undefined when the failure is the
 * service's own (500). A data exception is the client's value: 400 INVALID_VALUE. Anything that
 * says "not now" answers 503 with Retry-After at once, never 500, so that a well-behaved client
 * retries rather than gives up: OVERLOADED (the pool's queue is full or its wait ran out) also
 * carries `x-flotilla-overloaded`, which keeps the mesh from sending the same request again at
 * once where there is too much load already; DATABASE_UNAVAILABLE (refused, cut, restarting) does
 * not, as another replica may hold a connection that still works. The database's own message
 * stays in the log.
 */
export function databaseFailure(err: unknown): HttpError | undefined {
  switch (classifyDatabaseError(err)) {
    case 'invalid-value':
      return HttpError.of('INVALID_VALUE', { cause: err });
    case 'overloaded':
      return HttpError.of('OVERLOADED', {
        cause: err,
        headers: { 'retry-after': '1', [HEADERS.overloaded]: '1' },
      });
    case 'unavailable':
      return HttpError.of('DATABASE_UNAVAILABLE', { cause: err, headers: { 'retry-after': '1' } });
    default:
      return undefined;
  }
}
