import { ENV, type InstanceIdentity } from '@flotilla/spec';
import pg from 'pg';
import type { Logger } from 'pino';
import { RUNTIME_DEFAULTS } from './defaults.ts';
import { RuntimeError } from './errors.ts';

/**
 * The service's PostgreSQL pool, from DATABASE_URL. Connections are opened on first use; the
 * pool names itself after the instance so `pg_stat_activity` shows who holds what.
 */
export function createPool(env: NodeJS.ProcessEnv, identity: InstanceIdentity, log: Logger): pg.Pool {
  const url = env[ENV.databaseUrl];
  if (!url) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_MISSING',
      `Service ${identity.service} uses a database but ${ENV.databaseUrl} is not set: set it to a postgres:// URL, or set database: true for the service in flotilla.yaml.`,
    );
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: RUNTIME_DEFAULTS.databasePoolMax,
    connectionTimeoutMillis: RUNTIME_DEFAULTS.databaseAcquireTimeoutMs,
    application_name: identity.instance,
  });
  // An idle client that loses its connection emits on the pool; unhandled, that would end the process.
  pool.on('error', (err) => log.warn({ err }, 'idle database connection failed'));
  return pool;
}
