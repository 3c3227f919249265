import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { testClient } from './pg-pool.ts';

/** One more database on a test server, for a test that needs several (a service's, the bus's). */
export interface ExtraDatabase {
  /** A `postgres://` URL of the new, empty database. */
  url: string;
  /** Drops it, closing whatever is still connected. */
  drop(): Promise<void>;
}

/** Creates an empty database named `<prefix>_<random>` on the server of `serverUrl`. */
export async function createExtraDatabase(serverUrl: string, prefix: string): Promise<ExtraDatabase> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await admin(serverUrl, `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(serverUrl, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
  };
}

async function admin(serverUrl: string, sql: string): Promise<void> {
  const client = testClient({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
