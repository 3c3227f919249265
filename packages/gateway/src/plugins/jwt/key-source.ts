import {
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

/** Finds the key that verifies a token, from its protected header (`alg`, `kid`). */
export type KeySource = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/** No verification keys are known: the JWKS has never been fetched successfully. */
export class JwksUnavailableError extends Error {
  readonly code = 'JWKS_UNAVAILABLE';

  constructor(url: string) {
    super(`no verification keys: the JWKS at ${url} could not be fetched yet`);
    this.name = 'JwksUnavailableError';
  }
}

/** A key source over keys written in the spec. Checked once: only public signing keys are accepted. */
export function staticKeys(keys: Record<string, unknown>[]): KeySource {
  for (const [i, key] of keys.entries()) {
    if ('d' in key || key.kty === 'oct') {
      throw new PluginConfigError('jwt', `keys[${i}] is a private or symmetric key; list public keys only`);
    }
  }
  try {
    return createLocalJWKSet({ keys } as JSONWebKeySet);
  } catch (cause) {
    throw new PluginConfigError('jwt', `keys are not a valid JWK set (${(cause as Error).message})`, {
      cause,
    });
  }
}

/**
 * A key source over a JWKS document fetched through `deps.fetchJson` and cached for `cacheS`.
 *
 * A token whose `kid` is unknown triggers one refetch (keys may have rotated), but fetches are at
 * least `jwksRefetchMinIntervalS` apart, so a stream of forged `kid`s cannot flood the JWKS server.
 * After a failed fetch the last good keys stay in use and the next attempt waits
 * `jwksRetryAfterFailureS`; concurrent requests share one fetch.
 */
export function remoteKeys(url: string, cacheS: number, deps: PluginDeps): KeySource {
  const { jwksFetchTimeoutMs, jwksRefetchMinIntervalS, jwksRetryAfterFailureS } = PLUGIN_DEFAULTS.jwt;
  let keySet: LocalJWKSet | undefined;
  let fetchedAtMs = Number.NEGATIVE_INFINITY;
  let nextAttemptAtMs = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;

  async function fetchKeys(): Promise<void> {
    const startedMs = deps.now();
    try {
      keySet = createLocalJWKSet((await deps.fetchJson(url, jwksFetchTimeoutMs)) as JSONWebKeySet);
      fetchedAtMs = startedMs;
      nextAttemptAtMs = startedMs + jwksRefetchMinIntervalS * 1000;
    } catch (cause) {
      nextAttemptAtMs = startedMs + jwksRetryAfterFailureS * 1000;
      deps.log.warn(
        {
          plugin: 'jwt',
          jwksUrl: url,
          error: (cause as Error).message,
          usingCachedKeys: keySet !== undefined,
        },
        'JWKS fetch failed; tokens are checked against the last keys fetched, if any',
      );
    }
  }

  function refresh(): Promise<void> {
    if (inflight === undefined && deps.now() >= nextAttemptAtMs) {
      inflight = fetchKeys().finally(() => {
        inflight = undefined;
      });
    }
    return inflight ?? Promise.resolve();
  }

  return async (header, token) => {
    if (keySet === undefined || deps.now() - fetchedAtMs >= cacheS * 1000) await refresh();
    const known = keySet;
    if (known === undefined) throw new JwksUnavailableError(url);
    try {
      return await known(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      await refresh();
      const latest = keySet;
      if (latest === undefined || latest === known) throw error;
      return latest(header, token);
    }
  };
}
