import type { Pool } from 'pg';
import { dummyPasswordHash, verifyPassword } from './passwords.ts';

/** Checks an email and password against the accounts. */
export interface Credentials {
  /** Computes the hash that unknown emails are checked against; call once before serving. */
  prepare(): Promise<void>;
  /** The account when the password is its own; undefined for a wrong password or an unknown email alike. */
  check(email: string, password: string): Promise<{ id: string; roles: string[] } | undefined>;
}

/** Credential checks on `pool`'s users, taking the same time whether or not the email exists. */
export function credentials(pool: Pool): Credentials {
  let dummyHash: string | undefined;
  return {
    async prepare() {
      dummyHash ??= await dummyPasswordHash();
    },
    async check(email, password) {
      if (dummyHash === undefined) throw new Error('credentials.check() before prepare()');
      const { rows } = await pool.query<{ id: string; roles: string[]; password_hash: string }>(
        'SELECT id, roles, password_hash FROM users WHERE lower(email) = $1',
        [email],
      );
      const user = rows[0];
      // An unknown email still pays for one argon2 verification, so timing does not reveal it.
      const matches = await verifyPassword(user?.password_hash ?? dummyHash, password);
      return user && matches ? { id: user.id, roles: user.roles } : undefined;
    },
  };
}
