import { createHash, createHmac } from 'node:crypto';
import type { DatabaseClient } from '@flotilla/runtime';

/** Where a request with an Idempotency-Key stands. */
export type KeyClaim =
  /** The key's outcome is final: answer with exactly these bytes. */
  | { kind: 'replay'; status: number; body: string }
  /** The key was used with another request body. */
  | { kind: 'mismatch' }
  /** Another request with this key is being handled right now. */
  | { kind: 'busy' }
  /** This request now owns the key until release(); `orderId` is where an earlier attempt got to. */
  | { kind: 'owned'; orderId: string | null; release(): Promise<void> };

interface KeyRow {
  request_hash: string;
  order_id: string | null;
  response_status: number | null;
  response_body: string | null;
}

/**
 * A stable keyed hash of a request body, to tell "the same request again" from "another request
 * with the same key". Keyed (HMAC with a secret of the service) because the body holds a card
 * number: a plain hash of it could be brute-forced from the rest of the row in minutes. The body
 * is the schema's output, so the order of keys in the client's JSON does not matter.
 */
export function requestHash(body: unknown, secret: string): string {
  return createHmac('sha256', secret).update(JSON.stringify(body)).digest('hex');
}

/**
 * Claims an idempotency key on `client`, a connection the caller holds for the whole request.
 *
 * "In flight" is a session advisory lock, not a flag in a row: a request that dies with its
 * process (kill -9) loses its connection, PostgreSQL drops the lock with it, and the client's retry
 * takes the key over at once and resumes from the recorded order instead of waiting out a lease.
 */
export async function claimKey(
  client: DatabaseClient,
  owner: string,
  key: string,
  hash: string,
): Promise<KeyClaim> {
  await client.query(
    'INSERT INTO idempotency_keys (owner, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
    [owner, key, hash],
  );
  const first = await readKey(client, owner, key);
  if (first.request_hash !== hash) return { kind: 'mismatch' };
  if (first.response_status !== null) return replay(first);
  const lock = lockId(owner, key);
  const { rows } = await client.query<{ locked: boolean }>(
    'SELECT pg_try_advisory_lock($1::bigint) AS locked',
    [lock],
  );
  if (!rows[0]!.locked) return { kind: 'busy' };
  const release = async () => {
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [lock]);
  };
  // The request that held the lock may have finished between the first read and the lock.
  const current = await readKey(client, owner, key);
  if (current.response_status !== null) {
    await release();
    return replay(current);
  }
  return { kind: 'owned', orderId: current.order_id, release };
}

/**
 * Takes the key's lock on `client` if nobody holds it: the function that releases it, or undefined
 * when a request (or the reconciler) is working on the key.
 */
export async function tryLockKey(
  client: DatabaseClient,
  owner: string,
  key: string,
): Promise<(() => Promise<void>) | undefined> {
  const lock = lockId(owner, key);
  const { rows } = await client.query<{ locked: boolean }>(
    'SELECT pg_try_advisory_lock($1::bigint) AS locked',
    [lock],
  );
  if (!rows[0]!.locked) return undefined;
  return async () => {
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [lock]);
  };
}

/** Records the final outcome of the key, in the caller's transaction. */
export async function completeKey(
  tx: Pick<DatabaseClient, 'query'>,
  owner: string,
  key: string,
  status: number,
  body: string,
): Promise<void> {
  await tx.query(
    `UPDATE idempotency_keys SET response_status = $3, response_body = $4, completed_at = now()
      WHERE owner = $1 AND key = $2`,
    [owner, key, status, body],
  );
}

async function readKey(client: DatabaseClient, owner: string, key: string): Promise<KeyRow> {
  const { rows } = await client.query<KeyRow>(
    'SELECT request_hash, order_id, response_status, response_body FROM idempotency_keys WHERE owner = $1 AND key = $2',
    [owner, key],
  );
  return rows[0]!;
}

function replay(row: KeyRow): KeyClaim {
  return { kind: 'replay', status: row.response_status!, body: row.response_body! };
}

/** A 64-bit advisory lock key for (owner, key); a collision would only make one request wait its turn. */
function lockId(owner: string, key: string): string {
  return createHash('sha256').update(owner).update('\0').update(key).digest().readBigInt64BE(0).toString();
}
