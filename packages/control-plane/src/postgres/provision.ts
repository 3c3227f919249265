import { join } from 'node:path';
import pg from 'pg';
import { readOrCreateSecret } from '../state/index.ts';
import { BUS_DATABASE, databaseName } from './database-name.ts';
import { PostgresError } from './errors.ts';
import { databaseUrl, redactUrl } from './server-url.ts';

/** What to provision, and where. */
export interface ProvisionOptions {
  /** A URL whose user may create roles and databases. */
  serverUrl: string;
  system: string;
  /** Services with `database: true`, and BUS_DATABASE when the PostgreSQL bus needs its own. */
  services: readonly string[];
  /** Where each service's generated password is kept, as `postgres-<service>` (0600). */
  secretsDir: string;
  connectTimeoutMs: number;
}

/**
 * Gives each service (and the PostgreSQL bus, as BUS_DATABASE) a role and a database of its own,
 * named `flotilla_<system>_<service>` and owned by that role, and returns the URL of each. Idempotent: what exists is kept (data is
 * never dropped), only what is missing is created, and the password in `.flotilla/secrets` is
 * (re)applied so that the file is always the truth. Other roles lose CONNECT on the database, so a
 * service cannot reach another's data.
 */
export async function provisionDatabases(options: ProvisionOptions): Promise<Record<string, string>> {
  const client = new pg.Client({
    connectionString: options.serverUrl,
    connectionTimeoutMillis: options.connectTimeoutMs,
  });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (cause) {
    throw new PostgresError(
      'FLOTILLA_POSTGRES_UNREACHABLE',
      `cannot connect to ${redactUrl(options.serverUrl)}: ${(cause as Error).message}; check infrastructure.postgres.url in the spec, or remove it to use an embedded PostgreSQL`,
      { cause },
    );
  }
  try {
    const superuser = await checkPrivileges(client, options.serverUrl);
    const urls: Record<string, string> = {};
    for (const service of options.services) {
      const name = databaseName(options.system, service);
      const password = await readOrCreateSecret(join(options.secretsDir, `postgres-${service}`));
      try {
        await ensureRole(client, name, password);
        await ensureDatabase(client, name, superuser);
      } catch (cause) {
        throw new PostgresError(
          'FLOTILLA_POSTGRES_PROVISION_FAILED',
          `could not set up database ${name} for ${service === BUS_DATABASE ? 'the event bus' : `service "${service}"`} on ${redactUrl(options.serverUrl)}: ${(cause as Error).message}`,
          { cause },
        );
      }
      urls[service] = databaseUrl(options.serverUrl, name, password, name);
    }
    return urls;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Whether the connected user is a superuser; refuses one that can create neither roles nor databases. */
async function checkPrivileges(client: pg.Client, serverUrl: string): Promise<boolean> {
  const { rows } = await client.query<{
    name: string;
    super: boolean;
    createrole: boolean;
    createdb: boolean;
  }>(
    `SELECT current_user AS name, rolsuper AS super, rolcreaterole AS createrole, rolcreatedb AS createdb
       FROM pg_roles WHERE rolname = current_user`,
  );
  const me = rows[0];
  if (me && (me.super || (me.createrole && me.createdb))) return me.super;
  const user = me?.name ?? 'the user';
  throw new PostgresError(
    'FLOTILLA_POSTGRES_PRIVILEGES',
    `${user} in ${redactUrl(serverUrl)} cannot create roles and databases; run \`ALTER ROLE ${user} CREATEROLE CREATEDB;\` as a superuser, or use a URL with a user that can`,
  );
}

async function ensureRole(client: pg.Client, name: string, password: string): Promise<void> {
  const role = client.escapeIdentifier(name);
  const secret = client.escapeLiteral(password);
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
  if (exists.rowCount === 0) {
    try {
      await client.query(`CREATE ROLE ${role} LOGIN PASSWORD ${secret}`);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '42710') throw error;
    }
  }
  await client.query(`ALTER ROLE ${role} WITH LOGIN PASSWORD ${secret}`);
}

async function ensureDatabase(client: pg.Client, name: string, superuser: boolean): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount !== 0) return;
  const id = client.escapeIdentifier(name);
  // A user with CREATEROLE but not superuser may only create a database owned by a role it is a member of.
  if (!superuser) await client.query(`GRANT ${id} TO CURRENT_USER`);
  try {
    await client.query(`CREATE DATABASE ${id} OWNER ${id}`);
  } catch (error) {
    if ((error as { code?: string }).code === '42P04') return;
    throw error;
  }
  await client.query(`REVOKE ALL ON DATABASE ${id} FROM PUBLIC`);
}
