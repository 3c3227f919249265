import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { classifyDatabaseError, type DatabaseFailureKind, databaseFailure } from './database-failure.ts';
import { DatabaseAcquireTimeoutError, DatabasePoolFullError } from './database.ts';

/** A PostgreSQL error as pg builds it from the server's ErrorResponse. */
function sqlstate(code: string, message = 'from the server'): pg.DatabaseError {
  const err = new pg.DatabaseError(message, message.length, 'error');
  err.code = code;
  return err;
}

function syscall(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, syscall: 'connect' });
}

describe('classifyDatabaseError', () => {
  const table: [string, unknown, DatabaseFailureKind | undefined][] = [
    ['22P05 untranslatable character (a NUL byte)', sqlstate('22P05'), 'invalid-value'],
    ['22008 datetime field overflow', sqlstate('22008'), 'invalid-value'],
    ['57P01 admin_shutdown (pg_terminate_backend)', sqlstate('57P01'), 'unavailable'],
    ['57P02 crash_shutdown', sqlstate('57P02'), 'unavailable'],
    ['57P03 cannot_connect_now (starting up, in recovery)', sqlstate('57P03'), 'unavailable'],
    ['57P05 idle_session_timeout', sqlstate('57P05'), 'unavailable'],
    ['53300 too_many_connections', sqlstate('53300'), 'unavailable'],
    ['08006 connection_failure', sqlstate('08006'), 'unavailable'],
    ['08001 sqlclient_unable_to_establish_sqlconnection', sqlstate('08001'), 'unavailable'],
    ['23505 unique_violation (the service decides)', sqlstate('23505'), undefined],
    ['42P01 undefined_table (a bug)', sqlstate('42P01'), undefined],
    ['40001 serialization_failure (the service retries it)', sqlstate('40001'), undefined],
    ['ECONNREFUSED', syscall('ECONNREFUSED'), 'unavailable'],
    ['ECONNRESET', syscall('ECONNRESET'), 'unavailable'],
    ['ETIMEDOUT', syscall('ETIMEDOUT'), 'unavailable'],
    ['EHOSTUNREACH', syscall('EHOSTUNREACH'), 'unavailable'],
    ['EPIPE', syscall('EPIPE'), 'unavailable'],
    ['EAI_AGAIN', syscall('EAI_AGAIN'), 'unavailable'],
    ['ENOENT (not a connection error)', syscall('ENOENT'), undefined],
    [
      'an AggregateError of refused addresses',
      new AggregateError([syscall('ECONNREFUSED'), syscall('ECONNREFUSED')], 'connect failed'),
      'unavailable',
    ],
    ['Connection terminated unexpectedly', new Error('Connection terminated unexpectedly'), 'unavailable'],
    [
      'Connection terminated due to connection timeout',
      new Error('Connection terminated due to connection timeout'),
      'unavailable',
    ],
    [
      'a query on a client whose connection broke',
      new Error('Client has encountered a connection error and is not queryable'),
      'unavailable',
    ],
    [
      'the pool waited out its acquire timeout',
      new Error('timeout exceeded when trying to connect'),
      'overloaded',
    ],
    ['the pool queue is full', new DatabasePoolFullError(20), 'overloaded'],
    [
      'no connection freed up within the acquire timeout',
      new DatabaseAcquireTimeoutError(1_000),
      'overloaded',
    ],
    [
      'a handler error wrapping 57P01',
      new Error('saving the order failed', { cause: sqlstate('57P01') }),
      'unavailable',
    ],
    ['a TypeError', new TypeError('x is undefined'), undefined],
    ['not an error', 'Connection terminated unexpectedly', undefined],
    ['undefined', undefined, undefined],
  ];

  it.each(table)('classifies %s', (_name, err, kind) => {
    expect(classifyDatabaseError(err)).toBe(kind);
  });

  it('stops following a cycle of causes', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(classifyDatabaseError(a)).toBeUndefined();
  });
});

describe('databaseFailure', () => {
  it('answers a database that is away 503 DATABASE_UNAVAILABLE with Retry-After, which the mesh may retry elsewhere', () => {
    const answer = databaseFailure(sqlstate('57P01'));
    expect(answer).toMatchObject({
      status: 503,
      code: 'DATABASE_UNAVAILABLE',
      headers: { 'retry-after': '1' },
    });
    expect(answer?.headers['x-flotilla-overloaded']).toBeUndefined();
  });

  it('answers a full pool 503 OVERLOADED with Retry-After, marked so the mesh does not retry it', () => {
    expect(databaseFailure(new DatabasePoolFullError(20))).toMatchObject({
      status: 503,
      code: 'OVERLOADED',
      headers: { 'retry-after': '1', 'x-flotilla-overloaded': '1' },
    });
  });

  it('answers a value PostgreSQL refuses 400 INVALID_VALUE, and leaves a bug to be a 500', () => {
    expect(databaseFailure(sqlstate('22P05'))).toMatchObject({ status: 400, code: 'INVALID_VALUE' });
    expect(databaseFailure(sqlstate('42P01'))).toBeUndefined();
  });
});
