import {
  base64url,
  type CryptoKey,
  createLocalJWKSet,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type LocalJWKSet,
} from 'jose';
import { PLUGIN_DEFAULTS } from '../../defaults.ts';
import type { PluginDeps } from '../../plugin.ts';
import { PluginConfigError } from '../plugin-config-error.ts';

/**
 * The non-standard JWK member with which a key service publishes a retired key's retirement: a
 * NumericDate after which no genuine token is signed with the key (its retirement plus the time
 * the service's replicas may still sign with it). Tokens issued later were minted by someone else.
 */
export const RETIRED_AT = 'flotilla_retired_at';

/** Where the keys that verify tokens come from. */
export interface KeySource {
  /** Finds the key that verifies a token, from its protected header (`alg`, `kid`). */
  readonly key: (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;
  /** The `flotilla_retired_at` of the key `kid`, when it is a retired key. */
  retiredAtS(kid: string | undefined): number | undefined;
  /** Why tokens cannot be verified yet (no keys fetched so far), or undefined when they can. */
  notReady(): string | undefined;
  /** Changes whenever the keys do (a key was added, retired or revoked). */
  version(): number;
  /** Stops fetching. */
  close(): void;
}

/**
 * The keys cannot be had right now: the JWKS was never fetched, or the token may be signed by a
 * key newer than the last keys fetched and they cannot be fetched again yet. Temporary: the
 * client should retry after `retryAfterS`.
 */
export class JwksUnavailableError extends Error {
  readonly code = 'JWKS_UNAVAILABLE';
  readonly retryAfterS: number;

  constructor(message: string, retryAfterS: number) {
    super(message);
    this.name = 'JwksUnavailableError';
    this.retryAfterS = retryAfterS;
  }
}

/** A key source over keys written in the spec. Checked once: only public signing keys are accepted. */
export function staticKeys(keys: Record<string, unknown>[]): KeySource {
  for (const [i, key] of keys.entries()) {
    if ('d' in key || key.kty === 'oct') {
      throw new PluginConfigError('jwt', `keys[${i}] is a private or symmetric key; list public keys only`);
    }
  }
  let keySet: KeyFunction;
  try {
    keySet = keyFunctionOf(keys);
  } catch (cause) {
    throw new PluginConfigError('jwt', `keys are not a valid JWK set (${(cause as Error).message})`, {
      cause,
    });
  }
  const retired = retirementsOf(keys);
  return {
    key: keySet,
    retiredAtS: (kid) => (kid === undefined ? undefined : retired.get(kid)),
    notReady: () => undefined,
    version: () => 0,
    close: () => {},
  };
}

/**
 * A key source over a JWKS document fetched through `deps.fetchJson`: at once, then again in the
 * background every `cacheS` (so a revoked key leaves every gateway replica within `cacheS` plus
 * one fetch, whether or not traffic flows), and `jwksRetryAfterFailureS` after a failed fetch.
 * The last good keys stay in use while fetches fail.
 *
 * A token whose `kid` is unknown is refused (401) only when the keys were fetched after the token
 * was issued: then its key is really not published. A token issued after the last fetch may be
 * signed by a key published since (a rotation), so it triggers one fetch, at most once per
 * `jwksRefetchMinIntervalS` (a stream of forged `kid`s cannot flood the JWKS server); when no
 * fetch is allowed or it fails, the answer is JwksUnavailableError, a 503 to retry.
 */
export function remoteKeys(
  url: string,
  options: { cacheS: number; clockSkewS: number },
  deps: PluginDeps,
): KeySource {
  const { cacheS, clockSkewS } = options;
  const { jwksFetchTimeoutMs, jwksRefetchMinIntervalS, jwksRetryAfterFailureS } = PLUGIN_DEFAULTS.jwt;
  let keySet: KeyFunction | undefined;
  let retired = new Map<string, number>();
  let documentText = '';
  /** When the fetch that got the keys in use started. */
  let fetchedAtMs = Number.NEGATIVE_INFINITY;
  let lastAttemptAtMs = Number.NEGATIVE_INFINITY;
  let lastError: string | undefined;
  let inflight: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let nextFetchAtMs = Number.NEGATIVE_INFINITY;
  let closed = false;
  let version = 0;

  async function fetchKeys(): Promise<void> {
    const startedMs = deps.now();
    lastAttemptAtMs = startedMs;
    try {
      const document = (await deps.fetchJson(url, jwksFetchTimeoutMs)) as JSONWebKeySet;
      const next = keyFunctionOf(document.keys as unknown as Record<string, unknown>[]);
      const text = JSON.stringify(document.keys);
      if (text !== documentText) version += 1;
      keySet = next;
      retired = retirementsOf(document.keys as unknown as Record<string, unknown>[]);
      documentText = text;
      fetchedAtMs = startedMs;
      if (lastError !== undefined) deps.log.info({ plugin: 'jwt', jwksUrl: url }, 'JWKS fetched again');
      lastError = undefined;
      schedule(cacheS * 1000);
    } catch (cause) {
      const error = (cause as Error).message;
      // Retried every second while the key service starts: one line per new failure, not per try.
      if (error !== lastError) {
        deps.log.warn(
          { plugin: 'jwt', jwksUrl: url, error, usingCachedKeys: keySet !== undefined },
          'JWKS fetch failed; tokens are checked against the last keys fetched, if any',
        );
      }
      lastError = error;
      schedule(jwksRetryAfterFailureS * 1000);
    }
  }

  function fetchNow(): Promise<void> {
    inflight ??= fetchKeys().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  function schedule(delayMs: number): void {
    clearTimeout(timer);
    if (closed) return;
    nextFetchAtMs = deps.now() + delayMs;
    timer = setTimeout(() => void fetchNow(), delayMs);
    timer.unref();
  }

  /** Seconds until the keys are fetched next (or may be, at `mayFetchAtMs`), at least 1: what Retry-After says. */
  const retryAfterS = (mayFetchAtMs = nextFetchAtMs): number =>
    Math.max(1, Math.ceil((Math.min(nextFetchAtMs, mayFetchAtMs) - deps.now()) / 1000));

  void fetchNow();

  return {
    async key(header, token) {
      // Requests that arrive while the first fetch runs wait for it rather than fail.
      if (keySet === undefined && inflight !== undefined) await inflight;
      const known = keySet;
      if (known === undefined) {
        throw new JwksUnavailableError(
          `no verification keys: the JWKS at ${url} could not be fetched yet (${lastError ?? 'fetching'})`,
          retryAfterS(),
        );
      }
      try {
        return await known(header, token);
      } catch (error) {
        if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
        // A fetch that started after the request arrived is fresh enough, whatever the iat says.
        const arrivedAtMs = deps.now();
        const iatMs = issuedAtMsOf(token, arrivedAtMs + clockSkewS * 1000);
        const issuedAtMs = iatMs === undefined ? undefined : Math.min(iatMs, arrivedAtMs);
        if (issuedAtMs === undefined || issuedAtMs <= fetchedAtMs) throw error;
        if (inflight === undefined && deps.now() - lastAttemptAtMs >= jwksRefetchMinIntervalS * 1000) {
          await fetchNow();
        } else if (inflight !== undefined) {
          await inflight;
        }
        if (issuedAtMs <= fetchedAtMs) return keySet!(header, token);
        throw new JwksUnavailableError(
          `the token's key ${header.kid ?? '(no kid)'} may be newer than the keys fetched from ${url}`,
          retryAfterS(lastAttemptAtMs + jwksRefetchMinIntervalS * 1000),
        );
      }
    },
    retiredAtS: (kid) => (kid === undefined ? undefined : retired.get(kid)),
    notReady: () =>
      keySet !== undefined
        ? undefined
        : `waiting for the JWKS at ${url} (${lastError ? `last attempt: ${lastError}` : 'fetching'})`,
    version: () => version,
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}

/** Finds the key that verifies a token, as jose's `createLocalJWKSet` does. */
type KeyFunction = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/**
 * The key lookup over `keys`. A token that names its key (a string `kid`) gets that key, and the
 * jwt plugin then checks the key's retirement by that kid. A token that names none has every key
 * of its algorithm as candidate, so a retired key could verify it whatever its `iat`: its
 * candidates are the keys not retired and those retired at or after its claimed `iat` (none when
 * it claims none). The claim is read before the signature is checked, but a key retired before it
 * cannot then have signed it: a token that lies about its `iat` fails its signature.
 */
function keyFunctionOf(keys: Record<string, unknown>[]): KeyFunction {
  const all = createLocalJWKSet({ keys } as JSONWebKeySet);
  const retired = keys.filter((key) => retiredAtOf(key) !== undefined);
  if (retired.length === 0) return all;
  retired.sort((a, b) => retiredAtOf(a)! - retiredAtOf(b)!);
  const unretired = keys.filter((key) => retiredAtOf(key) === undefined);
  // bySince[i]: the candidates of a token issued after the retirement of retired[i - 1].
  const bySince: LocalJWKSet[] = retired.map((_, i) =>
    i === 0 ? all : createLocalJWKSet({ keys: [...unretired, ...retired.slice(i)] } as JSONWebKeySet),
  );
  bySince.push(createLocalJWKSet({ keys: unretired } as JSONWebKeySet));
  return (header, token) => {
    if (typeof header.kid === 'string') return all(header, token);
    const iat = claimedIatS(token);
    const since = iat === undefined ? -1 : retired.findIndex((key) => retiredAtOf(key)! >= iat);
    return bySince[since === -1 ? retired.length : since]!(header, token);
  };
}

function retiredAtOf(key: Record<string, unknown>): number | undefined {
  const at = key[RETIRED_AT];
  return typeof at === 'number' && Number.isFinite(at) ? at : undefined;
}

/** Retirement bounds by kid, from the keys that carry a numeric `flotilla_retired_at`. */
function retirementsOf(keys: Record<string, unknown>[]): Map<string, number> {
  const retired = new Map<string, number>();
  for (const key of keys) {
    const at = retiredAtOf(key);
    if (typeof key.kid === 'string' && at !== undefined) retired.set(key.kid, at);
  }
  return retired;
}

const utf8 = new TextDecoder();

/** The token's `iat`, read before its signature is checked; undefined when it has no numeric one. */
function claimedIatS(token: FlattenedJWSInput): number | undefined {
  try {
    const { iat } = JSON.parse(utf8.decode(base64url.decode(token.payload as string)));
    return typeof iat === 'number' && Number.isFinite(iat) ? iat : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The latest moment the token may have been issued (its `iat` is whole seconds), read before the
 * signature is checked; undefined when it has no usable `iat` or claims a time after `latestMs`
 * (now plus the clock skew), which no genuine token does.
 */
function issuedAtMsOf(token: FlattenedJWSInput, latestMs: number): number | undefined {
  const iat = claimedIatS(token);
  return iat === undefined || iat * 1000 > latestMs ? undefined : (iat + 1) * 1000;
}
