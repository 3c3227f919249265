import { inTransaction } from '@flotilla/events';
import type pg from 'pg';
import { RuntimeError } from './errors.ts';

/** Isolation levels PostgreSQL offers, as written after ISOLATION LEVEL. */
export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

/** How service.transaction runs its transaction. */
export interface TransactionOptions {
  /** @default the database's default, read committed unless configured otherwise */
  isolation?: IsolationLevel;
}

const BEGIN: Record<IsolationLevel, string> = {
  'read committed': 'BEGIN ISOLATION LEVEL READ COMMITTED',
  'repeatable read': 'BEGIN ISOLATION LEVEL REPEATABLE READ',
  serializable: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
};

/**
 * Runs `work` in one transaction on one client of `pool`: committed when it resolves, rolled back
 * and rethrown when it throws. The client goes back to the pool afterwards, or is destroyed if
 * ROLLBACK failed, because a connection in an unknown transaction state must not serve anyone else.
 */
export async function runTransaction<T>(
  pool: pg.Pool,
  work: (tx: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const { isolation } = options;
  if (isolation !== undefined && !Object.hasOwn(BEGIN, isolation)) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_INVALID',
      `Unknown isolation ${JSON.stringify(isolation)}: use 'read committed', 'repeatable read' or 'serializable'.`,
    );
  }
  return inTransaction(pool, work, isolation === undefined ? 'BEGIN' : BEGIN[isolation]);
}
