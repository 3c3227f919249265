import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.ts';
import { startTestPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { RUNTIME_DEFAULTS } from './defaults.ts';
import { createService, type Service } from './service.ts';

describe('a service database under pressure', () => {
  let postgres: TestPostgres;
  let service: Service;
  let base: string;
  const held: (() => void)[] = [];

  beforeAll(async () => {
    postgres = await startTestPostgres();
    service = createService({
      name: 'pressure',
      database: {},
      env: { PORT: '0', DATABASE_URL: postgres.url, FLOTILLA_LOG_LEVEL: 'fatal' },
    });
    // Holds one pool connection until released, as a slow request would.
    service.get('/hold', async () => {
      const client = await service.db.connect();
      await new Promise<void>((resolve) => held.push(resolve));
      client.release();
      return { held: true };
    });
    service.get('/text', async (ctx) => {
      const { rows } = await service.db.query('SELECT $1::text AS t', [ctx.query.get('t') ?? '']);
      return rows[0];
    });
    await service.start();
    base = `http://127.0.0.1:${service.port}`;
  });

  afterAll(async () => {
    for (const release of held) release();
    await service?.stop();
    await postgres?.stop();
  });

  it('answers 400 INVALID_VALUE, not 500, for a value PostgreSQL refuses (a NUL character)', async () => {
    const res = await fetch(`${base}/text?t=a%00b`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'INVALID_VALUE' } });
    expect((await fetch(`${base}/text?t=ab`)).status).toBe(200);
  });

  it('answers 503 OVERLOADED with Retry-After, marked so the mesh does not retry it, when no connection frees up within the acquire timeout', async () => {
    const holders = holdEveryConnection();
    await waitUntilHeld(RUNTIME_DEFAULTS.databasePoolMax);
    const started = Date.now();
    const res = await fetch(`${base}/text?t=x`);
    const waitedMs = Date.now() - started;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('x-flotilla-overloaded')).toBe('1');
    expect(await res.json()).toMatchObject({ error: { code: 'OVERLOADED' } });
    expect(waitedMs).toBeGreaterThanOrEqual(RUNTIME_DEFAULTS.databaseAcquireTimeoutMs - 100);
    await releaseAll(holders);
    expect((await fetch(`${base}/text?t=y`)).status).toBe(200);
  });

  it('answers 503 OVERLOADED at once, without waiting, once as many requests wait for a connection as the pool lets wait', async () => {
    const holders = holdEveryConnection();
    await waitUntilHeld(RUNTIME_DEFAULTS.databasePoolMax);
    // These fill the queue; each is answered 503 after the acquire timeout or 200 once released.
    const waiters = Array.from({ length: RUNTIME_DEFAULTS.databaseWaitingMax }, () =>
      fetch(`${base}/text?t=w`),
    );
    await eventually(
      () => expect(service.db.waitingCount).toBe(RUNTIME_DEFAULTS.databaseWaitingMax),
      5_000,
      5,
    );
    const started = Date.now();
    const res = await fetch(`${base}/text?t=x`);
    expect(Date.now() - started).toBeLessThan(RUNTIME_DEFAULTS.databaseAcquireTimeoutMs / 2);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('x-flotilla-overloaded')).toBe('1');
    expect(await res.json()).toMatchObject({ error: { code: 'OVERLOADED' } });
    await releaseAll(holders);
    for (const waiter of await Promise.all(waiters)) expect([200, 503]).toContain(waiter.status);
    expect((await fetch(`${base}/text?t=y`)).status).toBe(200);
  });

  /** Starts one /hold request per pool connection. */
  function holdEveryConnection(): Promise<Response>[] {
    return Array.from({ length: RUNTIME_DEFAULTS.databasePoolMax }, () => fetch(`${base}/hold`));
  }

  async function waitUntilHeld(count: number): Promise<void> {
    await eventually(() => expect(held.length).toBeGreaterThanOrEqual(count), 10_000, 10);
  }

  async function releaseAll(holders: Promise<Response>[]): Promise<void> {
    for (const release of held.splice(0)) release();
    expect((await Promise.all(holders)).map((r) => r.status)).toEqual(Array(holders.length).fill(200));
  }
});
