import { performance } from 'node:perf_hooks';
import type { Logger, Service } from '@flotilla/runtime';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose';
import type { PoolClient } from 'pg';

/**
 * The JWK member that tells verifiers (the gateway's jwt plugin) when a retired key stopped
 * signing, as a NumericDate: a token it signed with a later `iat` was minted by someone else.
 */
export const RETIRED_AT = 'flotilla_retired_at';

/** The signature algorithm of every key: Ed25519. */
export const SIGNING_ALG = 'EdDSA';

// Serialises key creation and rotation across replicas; any number no other lock of this
// database uses (the runtime's migration lock is another).
const KEY_LOCK = '8436276150447421545';

/** The key new tokens are signed with. */
export interface ActiveKey {
  kid: string;
  privateKey: CryptoKey;
}

/** The service's signing keys, kept in its own database and shared by every replica. */
export interface SigningKeys {
  /** Creates the first key when there is none; replicas starting together create exactly one. */
  ensure(): Promise<void>;
  /** The key to sign with, read again from the database at most every `cacheMs`. */
  active(): Promise<ActiveKey>;
  /**
   * Public JWKs of the active key and of retired keys whose tokens may still be valid, never of a
   * revoked key. A retired key carries `flotilla_retired_at`: no replica signs with it after that.
   */
  publicJwks(): Promise<JWK[]>;
  /** Retires the active key and creates a new one that signs from now on. */
  rotate(): Promise<{ kid: string; retiredKid: string | undefined }>;
  /**
   * Takes key `kid` out of the JWKS at once, rotating first when it is the active key; `kid` is
   * the active key afterwards. Undefined when there is no key `kid`.
   */
  revoke(kid: string): Promise<{ kid: string; revokedKid: string } | undefined>;
}

/** Options of the signing keys. */
export interface SigningKeysOptions {
  /** How long a retired key stays in the JWKS: the token lifetime plus a margin. */
  retentionS: number;
  /** How long a replica keeps signing with the key it last read. */
  cacheMs: number;
  /**
   * How long after a rotation a replica may still sign with the retired key: `cacheMs`, plus the
   * time its last read of the key took. Added to `flotilla_retired_at`.
   */
  signingLagMs: number;
  log: Logger;
}

/** Signing keys in the `signing_keys` table of the service's database. */
export function signingKeys(
  service: Pick<Service, 'db' | 'transaction'>,
  options: SigningKeysOptions,
): SigningKeys {
  const { retentionS, cacheMs, signingLagMs, log } = options;
  const pool = service.db;
  // Key changes run in a transaction holding this lock, so one replica at a time makes them.
  const locked = <T>(work: (client: PoolClient) => Promise<T>): Promise<T> =>
    service.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [KEY_LOCK]);
      return work(client);
    });
  let cached: { at: number; key: Promise<ActiveKey> } | undefined;

  const load = async (): Promise<ActiveKey> => {
    const { rows } = await pool.query<{ kid: string; private_jwk: JWK }>(
      'SELECT kid, private_jwk FROM signing_keys WHERE retired_at IS NULL',
    );
    const row = rows[0];
    if (!row) throw new Error('No active signing key: ensure() has not run on this database.');
    return { kid: row.kid, privateKey: (await importJWK(row.private_jwk, SIGNING_ALG)) as CryptoKey };
  };

  return {
    ensure: () =>
      locked(async (client) => {
        const { rowCount } = await client.query('SELECT 1 FROM signing_keys WHERE retired_at IS NULL');
        if (rowCount) return;
        const kid = await insertNewKey(client);
        log.info({ kid }, 'signing key created');
      }),

    active() {
      // Sharing one pending read keeps a burst of logins at the expiry to one query.
      if (!cached || performance.now() - cached.at > cacheMs) {
        const key = load();
        cached = { at: performance.now(), key };
        key.catch(() => {
          if (cached?.key === key) cached = undefined;
        });
      }
      return cached.key;
    },

    async publicJwks() {
      const { rows } = await pool.query<{ public_jwk: JWK; signed_until_s: number | null }>(
        `SELECT public_jwk,
                ceil(extract(epoch FROM retired_at) + $2)::float8 AS signed_until_s
         FROM signing_keys
         WHERE revoked_at IS NULL
           AND (retired_at IS NULL OR retired_at > now() - make_interval(secs => $1))
         ORDER BY created_at DESC`,
        [retentionS, signingLagMs / 1000],
      );
      return rows.map((r) =>
        r.signed_until_s === null ? r.public_jwk : { ...r.public_jwk, [RETIRED_AT]: r.signed_until_s },
      );
    },

    async rotate() {
      const result = await locked(rotateIn);
      cached = undefined;
      return result;
    },

    async revoke(kid) {
      const result = await locked(async (client) => {
        const { rows } = await client.query<{ active: boolean }>(
          'SELECT retired_at IS NULL AS active FROM signing_keys WHERE kid = $1',
          [kid],
        );
        if (rows[0] === undefined) return undefined;
        if (rows[0].active) await rotateIn(client);
        await client.query(
          'UPDATE signing_keys SET revoked_at = coalesce(revoked_at, now()) WHERE kid = $1',
          [kid],
        );
        const active = await client.query<{ kid: string }>(
          'SELECT kid FROM signing_keys WHERE retired_at IS NULL',
        );
        return { kid: active.rows[0]!.kid, revokedKid: kid };
      });
      cached = undefined;
      return result;
    },
  };
}

/** Retires the active key and creates a new one, inside the caller's locked transaction. */
async function rotateIn(client: PoolClient): Promise<{ kid: string; retiredKid: string | undefined }> {
  const { rows } = await client.query<{ kid: string }>(
    'UPDATE signing_keys SET retired_at = now(), private_jwk = NULL WHERE retired_at IS NULL RETURNING kid',
  );
  const kid = await insertNewKey(client);
  return { kid, retiredKid: rows[0]?.kid };
}

/** Generates an Ed25519 key pair, stores it as the active key and returns its kid (the RFC 7638 thumbprint). */
async function insertNewKey(client: PoolClient): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { crv: 'Ed25519', extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG };
  await client.query('INSERT INTO signing_keys (kid, public_jwk, private_jwk) VALUES ($1, $2, $3)', [
    kid,
    { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' },
    privateJwk,
  ]);
  return kid;
}
