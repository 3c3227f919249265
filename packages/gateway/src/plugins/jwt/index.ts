import { DEFAULTS, type JwtConfig } from '@flotilla/spec';
import { errors, type JWTPayload, type JWTVerifyOptions, jwtVerify } from 'jose';
import { PLUGIN_DEFAULTS } from '../../defaults.ts';
import { GatewayError } from '../../errors.ts';
import type { PluginDeps, PluginFactory } from '../../plugin.ts';
import { PluginConfigError } from '../plugin-config-error.ts';
import { type KeySource, remoteKeys, staticKeys } from './key-source.ts';
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
 * configured issuer for the configured audience, with `sub` and `exp`, inside its validity window
 * (allowing `clockSkewS`). On success the verified subject and roles go on the context, which the
 * core sends upstream as identity headers. Every failure is a 401 UNAUTHORIZED: the request never
 * reaches the service, and the reason is logged at info level (never the token).
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
  const skewMs = config.clockSkewS * 1000;

  const reject = (requestId: string, reason: string, headers: Record<string, string>): never => {
    deps.log.info({ plugin: 'jwt', request_id: requestId, reason }, 'bearer token rejected');
    throw new GatewayError('UNAUTHORIZED', { headers });
  };

  return {
    name: 'jwt',
    async onRequest(ctx) {
      const { authorization = '' } = ctx.req.headers;
      const token = BEARER_SCHEME.test(authorization) ? authorization.slice(6).trim() : '';
      if (token === '') return reject(ctx.requestId, 'no bearer token', MISSING);
      const nowMs = deps.now();
      const known = verified.get(token, nowMs);
      if (known !== undefined) {
        ctx.subject = known.subject;
        ctx.roles = known.roles;
        return;
      }
      let payload: JWTPayload;
      try {
        payload = await verify(token, keys, { ...verifyOptions, currentDate: new Date(nowMs) });
      } catch (error) {
        const { code, message } = error as { code?: string; message: string };
        return reject(ctx.requestId, `${code ?? 'ERR_JWT'}: ${message}`, INVALID);
      }
      if (!HEADER_SAFE.test(payload.sub ?? '')) {
        return reject(ctx.requestId, 'the sub claim is not printable ASCII', INVALID);
      }
      ctx.subject = payload.sub;
      ctx.roles = rolesOf(payload[config.rolesClaim]);
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
  if (config.jwksUrl && !config.keys) return remoteKeys(config.jwksUrl, config.jwksCacheS, deps);
  throw new PluginConfigError('jwt', 'set exactly one of jwksUrl or keys');
}

/**
 * Verifies `token`. A token without `kid` checked against a set with several keys of its
 * algorithm (during key rotation, say) is tried against each of them.
 */
async function verify(token: string, keys: KeySource, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, keys, options)).payload;
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    for await (const key of error) {
      try {
        return (await jwtVerify(token, key, options)).payload;
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
