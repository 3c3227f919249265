import type pg from 'pg';
import { EVENTS_DEFAULTS } from './defaults.ts';
import { INBOX_SQL } from './inbox/tables.ts';
import { OUTBOX_SQL } from './outbox/table.ts';
import { inTransaction } from './transaction.ts';

/**
 * Creates the outbox, inbox and dead-letter tables in a service's database; idempotent. Two
 * sessions running CREATE TABLE IF NOT EXISTS at once can still collide on the catalog, so
 * replicas starting together take turns under a transaction-level advisory lock.
 */
export async function createServiceTables(db: pg.Pool): Promise<void> {
  await inTransaction(db, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [EVENTS_DEFAULTS.serviceTablesLockKey]);
    for (const sql of [OUTBOX_SQL, ...INBOX_SQL]) await tx.query(sql);
  });
}
