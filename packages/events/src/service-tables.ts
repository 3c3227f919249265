import type pg from 'pg';
import { createTables } from './create-tables.ts';
import { EVENTS_DEFAULTS } from './defaults.ts';
import { INBOX_SQL } from './inbox/tables.ts';
import { OUTBOX_SQL } from './outbox/table.ts';

/** Creates the outbox, inbox and dead-letter tables in a service's database; idempotent, safe for replicas starting together. */
export function createServiceTables(db: pg.Pool): Promise<void> {
  return createTables(db, EVENTS_DEFAULTS.serviceTablesLockKey, [OUTBOX_SQL, ...INBOX_SQL]);
}
