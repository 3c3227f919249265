import { type Logger, RuntimeError } from '@flotilla/runtime';
import type { Pool } from 'pg';
import { USERS_DEFAULTS } from './defaults.ts';
import { passwordProblems } from './password-rules.ts';
import { hashPassword } from './passwords.ts';

/**
 * Creates the admin account (roles ["admin"]) when no user has `email`; an existing account of
 * that email is left as it is, password included. Replicas starting together race on the email's
 * unique index, so exactly one row is written. Returns whether this call created it.
 */
export async function ensureAdminAccount(
  pool: Pool,
  admin: { email: string; password: string },
  log: Logger,
): Promise<boolean> {
  const exists = await pool.query('SELECT 1 FROM users WHERE lower(email) = $1', [admin.email]);
  if (exists.rowCount) return false;
  const problems = passwordProblems(admin.password, { email: admin.email, name: USERS_DEFAULTS.adminName });
  if (problems.length > 0) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_INVALID',
      `ADMIN_PASSWORD breaks the password rules: ${problems.map((p) => p.message).join(' ')}`,
    );
  }
  const { rowCount } = await pool.query(
    `INSERT INTO users (email, name, password_hash, roles) VALUES ($1, $2, $3, '{admin}')
     ON CONFLICT (lower(email)) DO NOTHING`,
    [admin.email, USERS_DEFAULTS.adminName, await hashPassword(admin.password)],
  );
  if (rowCount) log.info({ email: admin.email }, 'admin account created');
  return rowCount === 1;
}
