import type pg from 'pg';
import { inTransaction } from './transaction.ts';

/**
 * Runs the idempotent `statements` (CREATE ... IF NOT EXISTS) in one transaction. Two sessions
 * creating the same table at once can still collide on the catalog, so whoever starts together
 * (replicas of a service, consumers of a bus) takes turns under a transaction-level advisory lock.
 */
export async function createTables(
  db: pg.Pool,
  lockKey: string,
  statements: readonly string[],
): Promise<void> {
  await inTransaction(db, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey]);
    for (const sql of statements) await tx.query(sql);
  });
}
