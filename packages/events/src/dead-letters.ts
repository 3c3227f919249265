import type pg from 'pg';
import type { Bus } from './bus.ts';
import { EVENTS_DEFAULTS } from './defaults.ts';
import type { EventEnvelope } from './envelope.ts';
import { EventsError } from './errors.ts';
import { DEAD_LETTERS_TABLE } from './inbox/tables.ts';
import { inTransaction } from './transaction.ts';

/** An event a service's consumer gave up on, and why. */
export interface DeadLetter {
  id: string;
  /** The subscription it was delivered to; a replay sends it there. */
  subscription: string;
  /** The envelope as it was delivered (whatever arrived, when it did not parse). */
  envelope: unknown;
  /** The last error, as `Name: message`. */
  error: string;
  /** Deliveries it had when it was given up on. */
  attempts: number;
  failedAt: Date;
}

interface Row {
  id: string;
  subscription: string;
  envelope: unknown;
  error: string;
  attempts: number;
  failed_at: Date;
}

const COLUMNS = 'id, subscription, envelope, error, attempts, failed_at';

/** The oldest dead letters of a service's database first; none when the service has never consumed. */
export async function listDeadLetters(db: pg.Pool, options: { limit?: number } = {}): Promise<DeadLetter[]> {
  const limit = options.limit ?? EVENTS_DEFAULTS.deadLettersListLimit;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new EventsError('EVENTS_OPTIONS_INVALID', `limit must be a whole number >= 1 (got ${limit}).`);
  }
  if (!(await tableExists(db))) return [];
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM ${DEAD_LETTERS_TABLE} ORDER BY id LIMIT $1`, [
    limit,
  ]);
  return rows.map(toDeadLetter);
}

/**
 * Sends dead letters back to their subscriptions as first attempts and deletes them; all of them
 * when `ids` is omitted. Returns those replayed. Rows are locked while they are sent, so two
 * replays at once do not send a row twice; a crash between a send and the commit can, which the
 * consumer's inbox absorbs. If the bus refuses some, those sent are still deleted and an
 * EVENTS_BUS_UNAVAILABLE error says how many were not.
 */
export async function replayDeadLetters(
  db: pg.Pool,
  bus: Bus,
  ids?: readonly string[],
): Promise<DeadLetter[]> {
  if (ids?.some((id) => !/^\d{1,19}$/.test(id))) {
    throw new EventsError(
      'EVENTS_OPTIONS_INVALID',
      'Dead letter ids are whole numbers, as listed by listDeadLetters.',
    );
  }
  if (ids?.length === 0 || !(await tableExists(db))) return [];
  const [replayed, refused] = await inTransaction(db, async (tx) => {
    const { rows } = await tx.query<Row>(
      `SELECT ${COLUMNS} FROM ${DEAD_LETTERS_TABLE}
       WHERE $1::bigint[] IS NULL OR id = ANY($1::bigint[]) ORDER BY id FOR UPDATE SKIP LOCKED`,
      [ids ?? null],
    );
    const results = await Promise.allSettled(
      rows.map((row) => bus.send(row.subscription, row.envelope as EventEnvelope, { attempt: 1 })),
    );
    const sent = rows.filter((_, i) => results[i]?.status === 'fulfilled');
    if (sent.length > 0) {
      await tx.query(`DELETE FROM ${DEAD_LETTERS_TABLE} WHERE id = ANY($1::bigint[])`, [
        sent.map((r) => r.id),
      ]);
    }
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    return [
      sent.map(toDeadLetter),
      failure && { count: rows.length - sent.length, cause: failure.reason },
    ] as const;
  });
  if (refused) {
    throw new EventsError(
      'EVENTS_BUS_UNAVAILABLE',
      `Replayed ${replayed.length} dead letter(s); the bus refused ${refused.count}, which stay dead letters: replay again once the bus is reachable.`,
      { cause: refused.cause },
    );
  }
  return replayed;
}

/** Whether the service has ever started consuming, which creates the table. */
async function tableExists(db: pg.Pool): Promise<boolean> {
  const { rows } = await db.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
    DEAD_LETTERS_TABLE,
  ]);
  return rows[0]?.found === true;
}

function toDeadLetter(row: Row): DeadLetter {
  return {
    id: row.id,
    subscription: row.subscription,
    envelope: row.envelope,
    error: row.error,
    attempts: row.attempts,
    failedAt: row.failed_at,
  };
}
