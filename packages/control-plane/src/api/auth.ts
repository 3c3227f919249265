import { createHash, timingSafeEqual } from 'node:crypto';
import type { TokenHolder } from '../types.ts';

/** Who a request comes from, by the token it carries. */
export type Caller =
  | { kind: 'admin' }
  | { kind: 'data-plane' }
  | { kind: 'instance'; holder: TokenHolder }
  | { kind: 'anonymous' };

/** The tokens the API knows: the admin token, the data-plane token, and each running process's own. */
export interface ApiTokens {
  admin: string;
  dataPlane: string;
  /** The process holding an instance token, undefined for a token no running process holds. */
  instance(token: string): TokenHolder | undefined;
}

/**
 * Identifies the caller from `Authorization: Bearer <token>`. The admin and data-plane tokens are
 * compared as SHA-256 digests, so the comparison takes the same time whatever the length or
 * content of the guess; instance tokens are looked up by digest too.
 */
export function identifyCaller(authorization: string | undefined, tokens: ApiTokens): Caller {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) return { kind: 'anonymous' };
  const token = match[1]!;
  const given = digest(token);
  if (timingSafeEqual(given, digest(tokens.admin))) return { kind: 'admin' };
  if (timingSafeEqual(given, digest(tokens.dataPlane))) return { kind: 'data-plane' };
  const holder = tokens.instance(token);
  return holder ? { kind: 'instance', holder } : { kind: 'anonymous' };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
