import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import { RUNTIME_DEFAULTS } from './defaults.ts';
import { RuntimeError } from './errors.ts';

interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

/**
 * Applies the `*.sql` files of `dir` in lexical order, each once, each in its own transaction,
 * and records them in `flotilla_migrations`. Returns the names applied by this call.
 *
 * Replicas that start together all call this: a session advisory lock held for the whole run
 * makes them take turns, so the first applies everything and the others find nothing to do. A
 * file that was applied and has changed since stops the run before anything new is applied,
 * because the database no longer matches the code that describes it.
 */
export async function migrate(pool: Pool, dir: string | URL, log: Logger): Promise<string[]> {
  const migrations = await readMigrations(typeof dir === 'string' ? dir : fileURLToPath(dir));
  const client = await pool.connect();
  let failure: unknown;
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [RUNTIME_DEFAULTS.migrationLockKey]);
    try {
      return await applyPending(client, migrations, log);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [RUNTIME_DEFAULTS.migrationLockKey]);
    }
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    // A session that failed outside our own checks may be unusable: drop it (its lock goes with it).
    client.release(failure !== undefined && !(failure instanceof RuntimeError));
  }
}

async function applyPending(client: PoolClient, migrations: Migration[], log: Logger): Promise<string[]> {
  await client.query(`CREATE TABLE IF NOT EXISTS flotilla_migrations (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const { rows } = await client.query<{ name: string; checksum: string }>(
    'SELECT name, checksum FROM flotilla_migrations',
  );
  const applied = new Map(rows.map((r) => [r.name, r.checksum]));
  for (const m of migrations) {
    const checksum = applied.get(m.name);
    if (checksum !== undefined && checksum !== m.checksum) {
      throw new RuntimeError(
        'FLOTILLA_MIGRATION_CHANGED',
        `Migration ${m.name} was changed after it was applied (checksum ${checksum.slice(0, 12)} in the database, ${m.checksum.slice(0, 12)} on disk). Restore the file and add a new migration for the change.`,
      );
    }
  }
  const done: string[] = [];
  for (const m of migrations) {
    if (applied.has(m.name)) continue;
    await client.query('BEGIN');
    try {
      await client.query(m.sql);
      await client.query('INSERT INTO flotilla_migrations (name, checksum) VALUES ($1, $2)', [
        m.name,
        m.checksum,
      ]);
      await client.query('COMMIT');
    } catch (cause) {
      await client.query('ROLLBACK');
      throw new RuntimeError(
        'FLOTILLA_MIGRATION_FAILED',
        `Migration ${m.name} failed and was rolled back: ${(cause as Error).message}`,
        { cause },
      );
    }
    log.info({ migration: m.name }, 'applied migration');
    done.push(m.name);
  }
  return done;
}

async function readMigrations(dir: string): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql'));
  // Plain code-unit order, not locale order, so every machine applies files in the same order.
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(join(dir, name));
      return {
        name,
        sql: bytes.toString('utf8'),
        checksum: createHash('sha256').update(bytes).digest('hex'),
      };
    }),
  );
}
