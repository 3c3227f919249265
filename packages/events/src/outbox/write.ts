import type pg from 'pg';
import { type EventEnvelope, parseEnvelope } from '../envelope.ts';
import { OUTBOX_CHANNEL, OUTBOX_TABLE } from './table.ts';

/**
 * Writes `envelope` to the outbox with `tx`, the caller's transaction, so the event exists if and
 * only if the caller's change commits. The notification is sent by PostgreSQL at commit, and not
 * at all on rollback. An envelope not made by createEnvelope is checked first, so that nothing
 * the relay cannot publish ever reaches the outbox.
 */
export async function writeToOutbox(
  tx: Pick<pg.ClientBase, 'query'>,
  envelope: EventEnvelope,
): Promise<void> {
  parseEnvelope(envelope);
  await tx.query(
    `WITH written AS (INSERT INTO ${OUTBOX_TABLE} (envelope) VALUES ($1::jsonb)) SELECT pg_notify($2, '')`,
    [JSON.stringify(envelope), OUTBOX_CHANNEL],
  );
}
