import { randomBytes } from 'node:crypto';

/** 32 random bytes as base64url: tokens and generated passwords. */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}
