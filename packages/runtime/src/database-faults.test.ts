import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.ts';
import { startTestPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { startTcpProxy } from '../../../test/support/tcp-proxy.ts';
import { RUNTIME_DEFAULTS } from './defaults.ts';

// A service whose database connections break under it runs in a process of its own, so that the
// test sees what matters: whether that process stays alive, and what its clients are answered.

const fixture = fileURLToPath(new URL('./database.fixture.ts', import.meta.url));
let postgres: TestPostgres;
let admin: pg.Client;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  postgres = await startTestPostgres();
  admin = new pg.Client({ connectionString: postgres.url });
  admin.on('error', () => undefined);
  await admin.connect();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await admin?.end();
  await postgres?.stop();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
  ms: number;
}

function get(port: number, path: string): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: JSON.parse(Buffer.concat(chunks).toString() || '{}'),
          ms: performance.now() - started,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** Starts the fixture on `databaseUrl` and resolves once it listens. */
async function startFixture(databaseUrl: string) {
  const child: ChildProcess = spawn(process.execPath, [fixture], {
    env: { ...process.env, PORT: '0', DATABASE_URL: databaseUrl, FLOTILLA_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  const logs: Record<string, unknown>[] = [];
  let exit: { code: number | null; signal: string | null } | undefined;
  child.once('exit', (code, signal) => {
    exit = { code, signal };
  });
  createInterface({ input: child.stdout! }).on('line', (text) => logs.push(JSON.parse(text)));
  const logged = (msg: string) =>
    eventually(() => {
      if (exit) throw new Error(`the fixture exited (${JSON.stringify(exit)}) before logging "${msg}"`);
      const line = logs.find((l) => l.msg === msg);
      if (!line) throw new Error(`the fixture has not logged "${msg}" yet`);
      return line;
    }, 15_000);
  const { port } = (await logged('listening')) as { port: number };
  return { child, port, logs, logged, alive: () => exit === undefined && child.exitCode === null };
}

/** Terminates every backend of the test database but the admin's own, as an operator would. */
async function terminateBackends(): Promise<number> {
  const { rows } = await admin.query(
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
  );
  return rows.length;
}

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

describe('a service whose database connections break', () => {
  it('stays alive when the backends under its checked-out clients are terminated: requests in flight get 503 DATABASE_UNAVAILABLE with Retry-After, the next one succeeds', async () => {
    const { port, logged, alive } = await startFixture(postgres.url);
    expect((await get(port, '/query')).status).toBe(200);

    // One request holds an idle checked-out client (as orders does across its payments call),
    // another is inside a query, when every backend is terminated.
    const holding = get(port, '/hold?ms=2000');
    await logged('holding a connection');
    const working = get(port, '/work?ms=10000');
    await eventually(async () => {
      const { rows } = await admin.query(
        "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'",
      );
      expect(rows).toHaveLength(1);
    }, 10_000);
    expect(await terminateBackends()).toBeGreaterThanOrEqual(2);

    for (const answer of await Promise.all([holding, working])) {
      expect(answer.status).toBe(503);
      expect(answer.headers['retry-after']).toBe('1');
      expect(answer.body.error?.code).toBe('DATABASE_UNAVAILABLE');
      expect(answer.body.error?.message).not.toMatch(/terminat|pg_|at .*\.ts/);
    }
    await logged('database connection lost while in use: it will be discarded on release');
    expect(alive()).toBe(true);
    expect((await get(port, '/query')).status).toBe(200);
    expect((await get(port, '/hold?ms=0')).status).toBe(200);
    expect(alive()).toBe(true);
  }, 40_000);

  it('answers 503 DATABASE_UNAVAILABLE at once while its database refuses connections, and reconnects by itself once it is back', async () => {
    const server = new URL(postgres.url);
    const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 5432) });
    cleanups.push(() => proxy.close());
    const through = new URL(postgres.url);
    through.hostname = proxy.host;
    through.port = String(proxy.port);
    const { port, alive } = await startFixture(through.toString());
    expect((await get(port, '/query')).status).toBe(200);

    proxy.cut();
    for (let i = 0; i < 5; i++) {
      const answer = await get(port, '/query');
      expect(answer.status).toBe(503);
      expect(answer.headers['retry-after']).toBe('1');
      expect(answer.body.error?.code).toBe('DATABASE_UNAVAILABLE');
      // "At once": a refusal is known at once, so the answer must not wait for any timeout.
      expect(answer.ms).toBeLessThan(RUNTIME_DEFAULTS.databaseAcquireTimeoutMs / 2);
    }
    proxy.restore();
    expect((await get(port, '/query')).status).toBe(200);
    expect(alive()).toBe(true);
  }, 40_000);

  it('answers 503 DATABASE_UNAVAILABLE at once when nothing listens on its database port', async () => {
    const url = new URL(postgres.url);
    url.hostname = '127.0.0.1';
    url.port = String(await closedPort());
    const { port, alive } = await startFixture(url.toString());
    const answer = await get(port, '/query');
    expect(answer).toMatchObject({ status: 503, headers: { 'retry-after': '1' } });
    expect(answer.body.error?.code).toBe('DATABASE_UNAVAILABLE');
    expect(answer.ms).toBeLessThan(RUNTIME_DEFAULTS.databaseAcquireTimeoutMs / 2);
    expect(alive()).toBe(true);
  }, 40_000);
});

describe('a service under a burst larger than its pool', () => {
  it('answers each of 300 requests sent at once within 3 s, 200 or 503 OVERLOADED with Retry-After, never 500', async () => {
    const { port } = await startFixture(postgres.url);
    // Opens the pool's connections first, so that the burst measures waiting, not connecting.
    await Promise.all(
      Array.from({ length: RUNTIME_DEFAULTS.databasePoolMax }, () => get(port, '/work?ms=0')),
    );
    // Each request keeps its connection 100 ms: the pool serves 100 requests/s, a third of the burst.
    const answers = await Promise.all(Array.from({ length: 300 }, () => get(port, '/work?ms=100')));
    const kinds = new Set(answers.map((a) => `${a.status} ${a.body.error?.code ?? ''}`.trim()));
    expect([...kinds].sort()).toEqual(['200', '503 OVERLOADED']);
    for (const a of answers.filter((x) => x.status === 503)) {
      expect(a.headers['retry-after']).toBe('1');
      expect(a.headers['x-flotilla-overloaded']).toBe('1');
    }
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(
      RUNTIME_DEFAULTS.databasePoolMax,
    );
    // The promise is the acquire timeout (1 s, where it was 5 s and the slowest answers took 5.2 s
    // or more); the rest is room for accepting 300 connections on a machine whose cores are busy.
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(
      RUNTIME_DEFAULTS.databaseAcquireTimeoutMs + 2_000,
    );
  }, 40_000);
});
