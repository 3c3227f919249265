import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testClient, testPool } from '../../../test/support/pg-pool.ts';
import { startTestPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { inOrder } from '../../../test/support/teardown.ts';
import { createService, type Service } from './service.ts';

let postgres: TestPostgres;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  postgres = await startTestPostgres();
});

afterAll(() => inOrder([...cleanups.reverse(), () => postgres?.stop()]));

/** A database and a migrations directory of the test's own. */
async function fixture(files: Record<string, string>): Promise<{ url: string; dir: string; query: Query }> {
  const name = `m_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(postgres.url);
  url.pathname = `/${name}`;
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-migrations-'));
  for (const [file, sql] of Object.entries(files)) writeFileSync(join(dir, file), sql);
  const pool = testPool({ connectionString: url.toString(), max: 1 });
  cleanups.push(
    () => admin(`DROP DATABASE ${name} WITH (FORCE)`),
    () => rmSync(dir, { recursive: true, force: true }),
    () => pool.end(),
  );
  return { url: url.toString(), dir, query: async (sql) => (await pool.query(sql)).rows };
}

async function admin(sql: string): Promise<void> {
  const client = testClient({ connectionString: postgres.url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

type Query = (sql: string) => Promise<Record<string, unknown>[]>;

function service(url: string, dir: string, logs: Record<string, unknown>[] = []): Service {
  const s = createService({
    name: 'orders',
    database: { migrationsDir: dir },
    env: { PORT: '0', DATABASE_URL: url },
    logDestination: { write: (line: string) => logs.push(JSON.parse(line)) },
  });
  cleanups.push(() => s.stop());
  return s;
}

describe('migrations', () => {
  it('applies each file once, in order, when three services start at the same time', async () => {
    const { url, dir, query } = await fixture({
      '002_seed.sql': 'INSERT INTO items (id, note) VALUES (1, (SELECT note FROM first_note));',
      '001_create.sql': `CREATE TABLE items (id int PRIMARY KEY, note text);
        CREATE TABLE first_note AS SELECT 'first' AS note;
        SELECT pg_sleep(0.3);`,
    });
    const logs: Record<string, unknown>[] = [];
    const services = [service(url, dir, logs), service(url, dir, logs), service(url, dir, logs)];
    await Promise.all(services.map((s) => s.start()));

    expect(services.every((s) => s.ready)).toBe(true);
    expect(await query('SELECT id, note FROM items')).toEqual([{ id: 1, note: 'first' }]);
    const applied = await query('SELECT name, checksum FROM flotilla_migrations ORDER BY applied_at, name');
    expect(applied.map((r) => r.name)).toEqual(['001_create.sql', '002_seed.sql']);
    expect(applied.every((r) => /^[0-9a-f]{64}$/.test(String(r.checksum)))).toBe(true);
    expect(logs.filter((l) => l.msg === 'applied migration').map((l) => l.migration)).toEqual([
      '001_create.sql',
      '002_seed.sql',
    ]);
  });

  it('refuses to start when an applied file has changed, naming it, and applies nothing new', async () => {
    const { url, dir, query } = await fixture({ '001_create.sql': 'CREATE TABLE items (id int);' });
    await service(url, dir).start();
    writeFileSync(join(dir, '001_create.sql'), 'CREATE TABLE items (id bigint);');
    writeFileSync(join(dir, '002_more.sql'), 'CREATE TABLE more (id int);');

    const second = service(url, dir);
    await expect(second.start()).rejects.toMatchObject({
      code: 'FLOTILLA_MIGRATION_CHANGED',
      message: expect.stringContaining('001_create.sql was changed after it was applied'),
    });
    expect(second.ready).toBe(false);
    expect(await query("SELECT to_regclass('more') AS t")).toEqual([{ t: null }]);
  });

  it('rolls back a failing file, names it and keeps the files before it', async () => {
    const { url, dir, query } = await fixture({
      '001_ok.sql': 'CREATE TABLE ok (id int);',
      '002_bad.sql': 'CREATE TABLE half (id int); SELEC 1;',
    });
    await expect(service(url, dir).start()).rejects.toMatchObject({
      code: 'FLOTILLA_MIGRATION_FAILED',
      message: expect.stringMatching(/002_bad\.sql failed and was rolled back: syntax error/),
    });
    expect(await query('SELECT name FROM flotilla_migrations')).toEqual([{ name: '001_ok.sql' }]);
    expect(await query("SELECT to_regclass('half') AS t")).toEqual([{ t: null }]);
  });

  it('answers /healthz but not /readyz while migrations run', async () => {
    const { url, dir } = await fixture({ '001_slow.sql': 'SELECT pg_sleep(0.6);' });
    const s = service(url, dir);
    const starting = s.start();
    let port: number | undefined;
    while (port === undefined) {
      try {
        port = s.port;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toEqual({ status: 'not ready', reason: 'starting' });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await starting;
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  });

  it('names DATABASE_URL when a service with a database is created without it', () => {
    expect(() => createService({ name: 'orders', database: {}, env: {} })).toThrow(
      expect.objectContaining({
        code: 'FLOTILLA_CONFIG_MISSING',
        message: expect.stringContaining('DATABASE_URL'),
      }),
    );
  });

  it('gives services without a database no pool, with a message saying how to get one', () => {
    const s = createService({ name: 'orders', env: {}, logDestination: { write: () => undefined } });
    expect(() => s.db).toThrow(/pass database: \{\} to createService/);
  });
});
