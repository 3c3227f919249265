import { DEFAULTS, type JwtConfig } from '@flotilla/spec';
import { errors, type JWTVerifyOptions, type JWTVerifyResult, jwtVerify } from 'jose';
import { PLUGIN_DEFAULTS } from '../../defaults.ts';
import { GatewayError } from '../../errors.ts';
import type { PluginDeps, PluginFactory } from '../../plugin.ts';
import { PluginConfigError } from '../plugin-config-error.ts';
import { JwksUnavailableError, type KeySource, remoteKeys, staticKeys } from './key-source.ts';
import { VerifiedCache } from './verified-cache.ts';

const BEARER_SCHEME = /^bearer(?: |$)/i;
/** Printable ASCII words: the subject travels upstream as a header, so it must be a valid header value. */
const HEADER_SAFE = /^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/;
/** A role travels in a comma-separated header, so it may contain neither a comma nor white space. */
const ROLE = /^[\x21-\x2b\x2d-\x7e]+$/;
const MISSING = { 'www-authenticate': 'Bearer realm="flotilla"' };
const INVALID = { 'www-authenticate': 'Bearer error="invalid_token"' };

/** The jwt config, where what the spec parser would fill in may be left out (a config built in code). */
export type JwtOptions = Pick<JwtConfig, 'issuer' | 'audience' | 'keys' | 'jwksUrl'> & Partial<JwtConfig>;

/**
 * Requires a valid bearer JWT: signed with an allowed algorithm by a known key, from the
 * configured issuer for the configured audience, with a string `sub` and `exp`, inside its
 * validity window (allowing `clockSkewS`), not issued in the future beyond the skew, and, when its
 * key is retired, issued before the retirement. On success the verified subject and roles go on
 * the context, which the core sends upstream as identity headers. A bad token is a 401
 * UNAUTHORIZED: the request never reaches the service, and the reason is logged at info level
 * (never the token). A token that cannot be checked because the keys cannot be fetched is a 503
 * JWKS_UNAVAILABLE with Retry-After: the client should try again, not throw its request away.
 */
export const jwt: PluginFactory<JwtOptions> = (options, deps) => {
  const config: JwtConfig = {
    ...DEFAULTS.gateway.jwt,
    algorithms: [...DEFAULTS.gateway.jwt.algorithms],
    ...options,
  };
  const keys = keySourceOf(config, deps);
  const verifyOptions = {
    algorithms: [...config.algorithms],
    issuer: config.issuer,
    audience: config.audience,
    clockTolerance: config.clockSkewS,
    requiredClaims: ['exp', 'sub'],
  } satisfies JWTVerifyOptions;

  const { verifiedCacheMaxAgeS, verifiedCacheMaxEntries, verifiedCacheMaxTokenLength } = PLUGIN_DEFAULTS.jwt;
  const verified = new VerifiedCache(verifiedCacheMaxEntries, verifiedCacheMaxTokenLength);
  // The keys the remembered tokens were verified with: when they change, a remembered token may
  // be one of a key just revoked, so every token is verified again.
  let verifiedWith = keys.version();
  const skewMs = config.clockSkewS * 1000;

  const reject = (requestId: string, reason: string, headers: Record<string, string>): never => {
    deps.log.info({ plugin: 'jwt', request_id: requestId, reason }, 'bearer token rejected');
    throw new GatewayError('UNAUTHORIZED', { headers });
  };

  return {
    name: 'jwt',
    notReady: keys.notReady,
    close: async () => keys.close(),
    async onRequest(ctx) {
      const { authorization = '' } = ctx.req.headers;
      const token = BEARER_SCHEME.test(authorization) ? authorization.slice(6).trim() : '';
      if (token === '') return reject(ctx.requestId, 'no bearer token', MISSING);
      const nowMs = deps.now();
      const keysVersion = keys.version();
      if (keysVersion !== verifiedWith) {
        verified.clear();
        verifiedWith = keysVersion;
      }
      const known = verified.get(token, nowMs);
      if (known !== undefined) {
        ctx.subject = known.subject;
        ctx.roles = known.roles;
        return;
      }
      let result: Pick<JWTVerifyResult, 'payload' | 'protectedHeader'>;
      try {
        result = await verify(token, keys, { ...verifyOptions, currentDate: new Date(nowMs) });
      } catch (error) {
        if (error instanceof JwksUnavailableError) {
          deps.log.info(
            { plugin: 'jwt', request_id: ctx.requestId, reason: error.message },
            'bearer token not checked',
          );
          throw new GatewayError('JWKS_UNAVAILABLE', {
            headers: { 'retry-after': String(error.retryAfterS) },
          });
        }
        const { code, message } = error as { code?: string; message: string };
        return reject(ctx.requestId, `${code ?? 'ERR_JWT'}: ${message}`, INVALID);
      }
      const { payload, protectedHeader } = result;
      if (typeof payload.sub !== 'string' || !HEADER_SAFE.test(payload.sub)) {
        return reject(ctx.requestId, 'the sub claim is not a string of printable ASCII', INVALID);
      }
      if (
        payload.iat !== undefined &&
        (typeof payload.iat !== 'number' || payload.iat * 1000 > nowMs + skewMs)
      ) {
        return reject(ctx.requestId, 'the iat claim is further in the future than the clock skew', INVALID);
      }
      const retiredAtS = keys.retiredAtS(protectedHeader.kid);
      if (retiredAtS !== undefined && !(typeof payload.iat === 'number' && payload.iat <= retiredAtS)) {
        return reject(ctx.requestId, `signed after its key ${protectedHeader.kid} was retired`, INVALID);
      }
      ctx.subject = payload.sub;
      ctx.roles = rolesOf(payload[config.rolesClaim]);
      // Verified with keys that changed meanwhile: good for this request, not to remember.
      if (keys.version() !== keysVersion) return;
      verified.set(token, {
        subject: payload.sub!,
        roles: ctx.roles,
        validFromMs: (payload.nbf ?? 0) * 1000 - skewMs,
        validUntilMs: Math.min(payload.exp! * 1000 + skewMs, nowMs + verifiedCacheMaxAgeS * 1000),
      });
    },
  };
};

function keySourceOf(config: JwtConfig, deps: PluginDeps): KeySource {
  if (config.keys && !config.jwksUrl) return staticKeys(config.keys);
  if (config.jwksUrl && !config.keys) {
    return remoteKeys(config.jwksUrl, { cacheS: config.jwksCacheS, clockSkewS: config.clockSkewS }, deps);
  }
  throw new PluginConfigError('jwt', 'set exactly one of jwksUrl or keys');
}

/**
 * Verifies `token`. A token without `kid` checked against a set with several keys of its
 * algorithm (during key rotation, say) is tried against each of them.
 */
async function verify(
  token: string,
  keys: KeySource,
  options: JWTVerifyOptions,
): Promise<Pick<JWTVerifyResult, 'payload' | 'protectedHeader'>> {
  try {
    return await jwtVerify(token, keys.key, options);
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    for await (const key of error) {
      try {
        return await jwtVerify(token, key, options);
      } catch (keyError) {
        if (!(keyError instanceof errors.JWSSignatureVerificationFailed)) throw keyError;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

/** Roles from a claim holding an array of strings or a space- or comma-separated string. */
function rolesOf(claim: unknown): string[] {
  const roles = typeof claim === 'string' ? claim.split(/[\s,]+/) : Array.isArray(claim) ? claim : [];
  return roles.filter((role): role is string => typeof role === 'string' && ROLE.test(role));
}
