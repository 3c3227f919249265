import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import { USERS_DEFAULTS } from './defaults.ts';

const HASH_OPTIONS = { type: argon2.argon2id, ...USERS_DEFAULTS.argon2 } as const;

/**
 * The form a password is hashed and counted in. NFKC (as NIST SP 800-63B asks) makes the same
 * password typed on two keyboards, composed or decomposed, one password.
 */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** An argon2id hash (PHC string, salt included) of the normalised password. */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(normalizePassword(password), HASH_OPTIONS);
}

/** Whether `password` matches `hash`, in time that does not depend on where they differ. */
export function verifyPassword(hash: string, password: string): Promise<boolean> {
  return argon2.verify(hash, normalizePassword(password));
}

/**
 * A hash of a random password nobody knows. Checking a login for an unknown email against it
 * costs what checking a real account costs, so response times do not tell which emails exist.
 */
export function dummyPasswordHash(): Promise<string> {
  return hashPassword(randomBytes(32).toString('base64url'));
}
