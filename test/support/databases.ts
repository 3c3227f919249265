import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Databases created for one test file on a test server, and how to drop them. */
export interface TestDatabases {
  /** URL of each database, by the name it was asked for. */
  urls: Record<string, string>;
  drop(): Promise<void>;
}

/**
 * Creates one empty database per name on the server of `serverUrl` (a URL whose user may create
 * databases, as startTestPostgres gives), uniquely named so that test files never share one.
 * Several services and a bus of a test then live on one server, each in its own database, as
 * under `flotilla up`.
 */
export async function createDatabases(serverUrl: string, names: readonly string[]): Promise<TestDatabases> {
  const suffix = randomBytes(4).toString('hex');
  const created = names.map((name) => ({ name, database: `t_${name.replaceAll('-', '_')}_${suffix}` }));
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    for (const { database } of created)
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
  const urls: Record<string, string> = {};
  for (const { name, database } of created) {
    const url = new URL(serverUrl);
    url.pathname = `/${database}`;
    urls[name] = url.toString();
  }
  return {
    urls,
    async drop() {
      const admin = new pg.Client({ connectionString: serverUrl });
      await admin.connect();
      try {
        for (const { database } of created) {
          await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
        }
      } finally {
        await admin.end();
      }
    },
  };
}
