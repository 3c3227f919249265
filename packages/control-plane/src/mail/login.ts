import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether an SMTP login names the sink's user and password. Both sides are hashed first so that
 * the comparison takes the same time whatever the length or content of the guess.
 */
export function isSinkLogin(
  given: { username?: string | null | undefined; password?: string | null | undefined },
  expected: { user: string; password: string },
): boolean {
  const passwordMatches = timingSafeEqual(digest(given.password ?? ''), digest(expected.password));
  return given.username === expected.user && passwordMatches;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
