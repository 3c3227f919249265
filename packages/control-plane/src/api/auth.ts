import { createHash, timingSafeEqual } from 'node:crypto';

/** Which token a request carries: the admin token, the data-plane token, or neither. */
export type Caller = 'admin' | 'data-plane' | 'anonymous';

/**
 * Identifies the caller from `Authorization: Bearer <token>`. Both sides are hashed first so that
 * the comparison takes the same time whatever the length or content of the guess.
 */
export function identifyCaller(
  authorization: string | undefined,
  tokens: { admin: string; dataPlane: string },
): Caller {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) return 'anonymous';
  const given = digest(match[1]!);
  if (timingSafeEqual(given, digest(tokens.admin))) return 'admin';
  if (timingSafeEqual(given, digest(tokens.dataPlane))) return 'data-plane';
  return 'anonymous';
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
