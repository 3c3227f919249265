import { createHmac } from 'node:crypto';
import type { DatabaseClient, DatabasePool, Service } from '@flotilla/runtime';

/** A claim on an Idempotency-Key: whose key, and the fencing token every write for it carries. */
export interface KeyLease {
  owner: string;
  key: string;
  token: string;
}

/** Where a request with an Idempotency-Key stands. */
export type KeyClaim =
  /** The key's outcome is final: answer with exactly these bytes. */
  | { kind: 'replay'; status: number; body: string }
  /** The key was used with another request body. */
  | { kind: 'mismatch' }
  /** Another request with this key is being handled right now. */
  | { kind: 'busy' }
  /** This request now holds the key; `orderId` is where an earlier attempt got to. */
  | { kind: 'owned'; lease: KeyLease; orderId: string | null };

/** How claims are held. */
export interface LeaseSettings {
  /** Who takes the claims (instance and pid), written beside them for whoever reads the table. */
  holder: string;
  leaseMs: number;
  renewEveryMs: number;
  idleInTransactionMs: number;
}

/** The key was taken over by another request after this one's claim lapsed: it must write nothing. */
export class LeaseLostError extends Error {
  constructor(lease: KeyLease) {
    super(`the claim on Idempotency-Key ${lease.key} lapsed and was taken over`);
    this.name = 'LeaseLostError';
  }
}

interface KeyRow {
  request_hash: string;
  order_id: string | null;
  response_status: number | null;
  response_body: string | null;
  /** The token of a takeover by this statement, null when it took nothing. */
  lease_token: string | null;
}

type Queryable = Pick<DatabaseClient, 'query'>;

const UNTIL = `now() + make_interval(secs => $4::double precision / 1000)`;

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
 * The claims of one process on idempotency keys.
 *
 * "In flight" is a lease on the key's row, not a lock on a connection: a request claims the key
 * until `locked_until` (the database's clock), and the process renews the claims of its running
 * requests every `renewEveryMs`. A request that dies (kill -9) or hangs (SIGSTOP) stops renewing,
 * and `leaseMs` later a retry takes the key over and resumes from the recorded order. A session
 * advisory lock, which this replaces, was released at once on kill -9 but never while a process
 * was merely stopped: its kernel keeps the connection and answers TCP keepalives
 * (`services/orders/bench/hung-claim.ts` measures both).
 *
 * Fencing: a takeover increments `lease_token`, and every transaction that writes for a key first
 * checks (and row-locks) the token it claimed with, so a holder that resumes after its key was
 * taken over fails with LeaseLostError and records nothing. Work outside transactions (the
 * payments call) is idempotent per order, so the old and the new holder may both do it.
 */
export class IdempotencyKeys {
  readonly #db: DatabasePool;
  readonly #transaction: Service['transaction'];
  readonly #log: Service['log'];
  readonly #settings: LeaseSettings;
  readonly #held = new Set<KeyLease>();
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;

  constructor(service: Pick<Service, 'db' | 'transaction' | 'log'>, settings: LeaseSettings) {
    this.#db = service.db;
    this.#transaction = (work, options) => service.transaction(work, options);
    this.#log = service.log;
    this.#settings = settings;
  }

  /** Claims `key` of `owner` for a request whose body hashes to `hash`. */
  async claim(owner: string, key: string, hash: string): Promise<KeyClaim> {
    const { rows: inserted } = await this.#db.query<{ lease_token: string }>(
      `INSERT INTO idempotency_keys (owner, key, request_hash, lease_token, lease_owner, locked_until)
       VALUES ($1, $2, $3, 1, $5, ${UNTIL}) ON CONFLICT DO NOTHING RETURNING lease_token`,
      [owner, key, hash, this.#settings.leaseMs, this.#settings.holder],
    );
    if (inserted[0]) {
      return { kind: 'owned', lease: { owner, key, token: inserted[0].lease_token }, orderId: null };
    }
    const row = await this.#takeOrRead(owner, key, hash);
    if (row.lease_token !== null) {
      return { kind: 'owned', lease: { owner, key, token: row.lease_token }, orderId: row.order_id };
    }
    if (row.request_hash !== hash) return { kind: 'mismatch' };
    if (row.response_status !== null) {
      return { kind: 'replay', status: row.response_status, body: row.response_body! };
    }
    return { kind: 'busy' };
  }

  /**
   * Takes over an unfinished key whose claim has lapsed (or was released): the new lease and the
   * order recorded so far, or undefined while someone holds it.
   */
  async take(owner: string, key: string): Promise<{ lease: KeyLease; orderId: string | null } | undefined> {
    const row = await this.#takeOrRead(owner, key, null);
    if (row.lease_token === null) return undefined;
    return { lease: { owner, key, token: row.lease_token }, orderId: row.order_id };
  }

  /**
   * In one statement, takes the key over when it is unfinished, free and (with `hash`) asked for
   * with the same body, and reads it: `lease_token` is the new token, or null when it was not
   * taken. A row locked by another holder's transaction counts as held, so this never waits on it.
   */
  async #takeOrRead(owner: string, key: string, hash: string | null): Promise<KeyRow> {
    const { rows } = await this.#db.query<KeyRow>(
      `WITH taken AS (
         UPDATE idempotency_keys k
            SET lease_token = k.lease_token + 1, lease_owner = $3, locked_until = ${UNTIL}
           FROM (SELECT owner, key FROM idempotency_keys
                  WHERE owner = $1 AND key = $2 AND response_status IS NULL
                    AND ($5::text IS NULL OR request_hash = $5)
                    AND (locked_until IS NULL OR locked_until <= now())
                    FOR UPDATE SKIP LOCKED) free
          WHERE k.owner = free.owner AND k.key = free.key
          RETURNING k.lease_token, k.order_id)
       SELECT k.request_hash, k.response_status, k.response_body,
              taken.lease_token, coalesce(taken.order_id, k.order_id) AS order_id
         FROM idempotency_keys k LEFT JOIN taken ON true
        WHERE k.owner = $1 AND k.key = $2`,
      [owner, key, this.#settings.holder, this.#settings.leaseMs, hash],
    );
    return rows[0]!;
  }

  /**
   * Runs `work` while holding `lease`, renewing it until `work` settles. `work` records the key's
   * outcome (completeKey), which ends the claim; when it throws instead, the claim is released so
   * that the client's retry can take the key over at once rather than after the lease.
   */
  async hold<T>(lease: KeyLease, work: () => Promise<T>): Promise<T> {
    this.#held.add(lease);
    this.#timer ??= setInterval(() => void this.#renew(), this.#settings.renewEveryMs).unref();
    try {
      return await work();
    } catch (error) {
      await this.#db
        .query(
          `UPDATE idempotency_keys SET locked_until = NULL
            WHERE owner = $1 AND key = $2 AND lease_token = $3 AND response_status IS NULL`,
          [lease.owner, lease.key, lease.token],
        )
        .catch((err: unknown) => this.#log.warn({ err }, 'could not release an idempotency key; it lapses'));
      throw error;
    } finally {
      this.#held.delete(lease);
      if (this.#held.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    }
  }

  /**
   * Runs `work` in a transaction that writes for the key of `lease`: it first checks that the
   * lease is still this request's (LeaseLostError otherwise), locking the key's row and renewing
   * the lease. PostgreSQL ends the transaction, and with it its row locks, if the process goes
   * quiet inside it for `idleInTransactionMs`: a hung process must not hold the products' stock.
   */
  transaction<T>(lease: KeyLease, work: (tx: DatabaseClient) => Promise<T>): Promise<T> {
    return this.#transaction(async (tx) => {
      await tx.query(`SELECT set_config('idle_in_transaction_session_timeout', $1, true)`, [
        `${this.#settings.idleInTransactionMs}ms`,
      ]);
      const { rowCount } = await tx.query(
        `UPDATE idempotency_keys SET locked_until = ${UNTIL}
          WHERE owner = $1 AND key = $2 AND lease_token = $3 AND response_status IS NULL`,
        [lease.owner, lease.key, lease.token, this.#settings.leaseMs],
      );
      if (rowCount !== 1) throw new LeaseLostError(lease);
      return work(tx);
    });
  }

  /**
   * Extends the claims of every running request in one statement. A claim released meanwhile
   * stays released, even when this statement was sent before the release. Rows locked by a
   * transaction are skipped: that transaction renews its own lease, or holds a key this process lost.
   */
  async #renew(): Promise<void> {
    // A renewal still waiting for the database is not queued behind by another.
    if (this.#renewing || this.#held.size === 0) return;
    this.#renewing = true;
    const leases = [...this.#held];
    try {
      await this.#db.query(
        `UPDATE idempotency_keys k SET locked_until = ${UNTIL}
           FROM (SELECT i.owner, i.key FROM idempotency_keys i
                   JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS l (owner, key, token)
                     ON i.owner = l.owner AND i.key = l.key AND i.lease_token = l.token
                  WHERE i.response_status IS NULL AND i.locked_until IS NOT NULL
                    FOR UPDATE OF i SKIP LOCKED) mine
          WHERE k.owner = mine.owner AND k.key = mine.key`,
        [
          leases.map((l) => l.owner),
          leases.map((l) => l.key),
          leases.map((l) => l.token),
          this.#settings.leaseMs,
        ],
      );
    } catch (err) {
      this.#log.warn({ err, keys: leases.length }, 'could not renew the claims on idempotency keys');
    } finally {
      this.#renewing = false;
    }
  }
}

/** Records the final outcome of the key and ends its claim, in a transaction of IdempotencyKeys.transaction. */
export async function completeKey(
  tx: Queryable,
  lease: KeyLease,
  status: number,
  body: string,
): Promise<void> {
  await tx.query(
    `UPDATE idempotency_keys
        SET response_status = $4, response_body = $5, completed_at = now(), locked_until = NULL
      WHERE owner = $1 AND key = $2 AND lease_token = $3`,
    [lease.owner, lease.key, lease.token, status, body],
  );
}
