import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  it('answers 503 with Retry-After, marked overloaded so the mesh does not retry it, when no connection frees up in time', async () => {
    const holders = Array.from({ length: RUNTIME_DEFAULTS.databasePoolMax }, () => fetch(`${base}/hold`));
    while (held.length < RUNTIME_DEFAULTS.databasePoolMax) await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    const res = await fetch(`${base}/text?t=x`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('x-flotilla-overloaded')).toBe('1');
    expect(await res.json()).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(RUNTIME_DEFAULTS.databaseAcquireTimeoutMs - 100);
    for (const release of held.splice(0)) release();
    expect((await Promise.all(holders)).map((r) => r.status)).toEqual(
      Array(RUNTIME_DEFAULTS.databasePoolMax).fill(200),
    );
    expect((await fetch(`${base}/text?t=y`)).status).toBe(200);
  });
});
