import { createHash } from 'node:crypto';

/**
 * The SHA-256 of a token, hex. What is kept of instance tokens, in memory and in `pids.json`: it
 * identifies a token a caller sends without being usable as one.
 */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
