import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { HEADERS } from '@flotilla/spec';
import { Client } from 'undici';
import { describe, expect, it } from 'vitest';
import { closedPort, routeSpec, send, tableOf, testServers } from './test-harness.ts';

const servers = testServers();

describe('upstream failures', () => {
  it('maps a refused connection to 502, no ready endpoint to 503 and a deadline to 504, as JSON', async () => {
    const slow = await servers.upstream((req, res) => {
      req.resume();
      setTimeout(() => res.end('late'), 2_000);
    });
    const gw = await servers.gateway(
      tableOf(
        1,
        {
          routes: [
            routeSpec({ service: 'refusing', match: { pathPrefix: '/refused' } }),
            routeSpec({ service: 'empty', match: { pathPrefix: '/empty' } }),
            routeSpec({ service: 'slow', match: { pathPrefix: '/slow' }, timeoutMs: 100 }),
          ],
        },
        { refusing: [await closedPort()], empty: [], slow: [slow.port] },
      ),
    );
    const cases = [
      ['/refused', 502, 'UPSTREAM_FAILED', 'UF'],
      ['/empty', 503, 'UPSTREAM_UNAVAILABLE', 'UH'],
      ['/slow', 504, 'UPSTREAM_TIMEOUT', 'UT'],
    ] as const;
    for (const [path, status, code] of cases) {
      const res = await send(`${gw.url}${path}`);
      expect(res.status, path).toBe(status);
      expect(res.headers['content-type']).toBe('application/json');
      expect(res.json()).toEqual({
        error: { code, message: expect.any(String), requestId: res.headers[HEADERS.requestId] },
      });
      expect(res.text).not.toMatch(/at .*\.ts/);
    }
    await gw.logged(3);
    expect(gw.accessLog.map((line) => line.response_flags)).toEqual(cases.map((c) => c[3]));
  });

  it('takes a POST with a body to another endpoint when the first refuses the connection', async () => {
    const orders = await servers.upstream();
    const gw = await servers.gateway(
      tableOf(
        1,
        { routes: [routeSpec({ service: 'orders' })] },
        { orders: [await closedPort(), orders.port] },
      ),
    );
    // Twelve, so that the refusing endpoint is all but sure to be picked first for some of them.
    for (let i = 0; i < 12; i++) {
      const res = await send(`${gw.url}/orders`, { method: 'POST', body: `order ${i}` });
      expect(res.status, `request ${i}`).toBe(200);
    }
    expect(orders.seen.map((s) => s.bodyBytes)).toEqual(
      Array.from({ length: 12 }, (_, i) => `order ${i}`.length),
    );
  });

  it('answers 413 to a chunked body past the limit before the upstream gets all of it', async () => {
    const orders = await servers.upstream();
    const gw = await servers.gateway(
      tableOf(
        1,
        { plugins: { bodyLimit: { maxBytes: 16 * 1024 } }, routes: [routeSpec({ service: 'orders' })] },
        {
          orders: [orders.port],
        },
      ),
    );
    const chunk = Buffer.alloc(4 * 1024, 1);
    const total = 64 * chunk.length;
    const answer = await new Promise<{ status: number; body: string; connection: string | undefined }>(
      (resolve, reject) => {
        const req = httpRequest(`${gw.url}/upload`, { method: 'POST', agent: false });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }),
          );
        });
        req.on('error', reject);
        let sent = 0;
        const next = (): void => {
          if (sent >= total || req.destroyed) {
            req.end();
            return;
          }
          sent += chunk.length;
          req.write(chunk, () => setTimeout(next, 2));
        };
        next();
      },
    );
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error.code).toBe('BODY_TOO_LARGE');
    expect(answer.connection).toBe('close');
    expect(orders.seen.every((r) => !r.complete && r.bodyBytes < total)).toBe(true);
  });

  it('closes the connection after a failed upstream call left a large request body unread, and the next request gets a new one', async () => {
    const orders = await servers.upstream();
    const gw = await servers.gateway(
      tableOf(
        1,
        {
          routes: [
            routeSpec({ service: 'empty', match: { pathPrefix: '/empty' } }),
            routeSpec({ service: 'orders', match: { pathPrefix: '/ok' } }),
          ],
        },
        { empty: [], orders: [orders.port] },
      ),
    );
    let connections = 0;
    gw.server.on('connection', () => connections++);
    const client = new Client(gw.url, { pipelining: 1 });
    servers.defer(() => client.close());
    const small = await client.request({ method: 'POST', path: '/empty', body: 'order 1' });
    await small.body.dump();
    const big = Buffer.alloc(16 * 1024 * 1024, 7);
    const failed = await client.request({ method: 'POST', path: '/empty', body: Readable.from([big]) });
    await failed.body.dump();
    const next = await client.request({ method: 'GET', path: '/ok' });
    await next.body.dump();
    expect([small.statusCode, small.headers.connection]).toEqual([503, 'keep-alive']);
    expect([failed.statusCode, failed.headers.connection]).toEqual([503, 'close']);
    expect(next.statusCode).toBe(200);
    expect(connections).toBe(2);
  });

  it('aborts the upstream call when the client goes away', async () => {
    const orders = await servers.upstream((req) => {
      req.resume();
    });
    const gw = await servers.gateway(
      tableOf(1, { routes: [routeSpec({ service: 'orders' })] }, { orders: [orders.port] }),
    );
    const req = httpRequest(`${gw.url}/hang`, { agent: false });
    req.on('error', () => {});
    req.end();
    while (orders.seen.length === 0) await sleep(10);
    req.destroy();
    const deadline = Date.now() + 2_000;
    while (!orders.seen[0]!.aborted && Date.now() < deadline) await sleep(10);
    expect(orders.seen[0]!.aborted).toBe(true);
    await gw.logged(1);
    expect(gw.accessLog[0]).toMatchObject({ status: 0, response_flags: 'DC' });
  });
});
