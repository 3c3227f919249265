import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { SIGNING_ALG, type SigningKeys } from './signing-keys.ts';

/** What goes into every access token besides its subject. */
export interface TokenOptions {
  issuer: string;
  audience: string;
  ttlS: number;
}

/** The token route's answer (RFC 6749 section 5.1). */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

/** Signs an access token for `subject` with the active key: iss, aud, sub, roles, iat, exp, jti. */
export async function issueAccessToken(
  keys: SigningKeys,
  user: { id: string; roles: string[] },
  options: TokenOptions,
): Promise<TokenResponse> {
  const { kid, privateKey } = await keys.active();
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ roles: user.roles })
    .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'JWT' })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(user.id)
    .setIssuedAt(now)
    .setExpirationTime(now + options.ttlS)
    .setJti(randomUUID())
    .sign(privateKey);
  return { access_token: token, token_type: 'Bearer', expires_in: options.ttlS };
}
