import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { httpProbe, recordProbe, startProber } from './index.ts';

const servers: Server[] = [];

async function serve(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const server = createServer(handler);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const target = (port: number, path = '/readyz') => ({ host: '127.0.0.1', port, path, timeoutMs: 300 });

describe('httpProbe', () => {
  it("names the first line of a failing answer's body, bounded, and ignores a passing one's", async () => {
    const port = await serve((req, res) => {
      res.statusCode = req.url === '/ok' ? 200 : 503;
      if (req.url === '/long') res.end(`${'x'.repeat(10_000)}\n`);
      else res.end('not ready: waiting for the JWKS at http://users/jwks\nsecond line\n');
    });
    expect(await httpProbe(target(port, '/readyz'))).toEqual({
      ok: false,
      detail: 'HTTP 503: not ready: waiting for the JWKS at http://users/jwks',
    });
    expect(await httpProbe(target(port, '/ok'))).toEqual({ ok: true, detail: 'HTTP 200' });
    expect((await httpProbe(target(port, '/long'))).detail).toBe(`HTTP 503: ${'x'.repeat(200)}`);
  });

  it('passes on 2xx and 3xx and fails on other statuses, naming the status', async () => {
    const port = await serve((req, res) => {
      res.statusCode = Number(req.url?.slice(1));
      res.end();
    });
    expect(await httpProbe(target(port, '/200'))).toEqual({ ok: true, detail: 'HTTP 200' });
    expect(await httpProbe(target(port, '/302'))).toEqual({ ok: true, detail: 'HTTP 302' });
    expect(await httpProbe(target(port, '/503'))).toEqual({ ok: false, detail: 'HTTP 503' });
    expect(await httpProbe(target(port, '/404'))).toEqual({ ok: false, detail: 'HTTP 404' });
  });

  it('fails when nothing listens on the port', async () => {
    const port = await serve(() => {});
    const server = servers.pop()!;
    await new Promise((resolve) => server.close(resolve));
    const result = await httpProbe(target(port));
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('ECONNREFUSED');
  });

  it('gives up at its timeout when the server never answers', async () => {
    const port = await serve(() => {});
    const started = Date.now();
    const result = await httpProbe(target(port));
    expect(result).toEqual({ ok: false, detail: 'no answer within 300 ms' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('gives up at its timeout when the body never ends', async () => {
    const port = await serve((_req, res) => {
      res.writeHead(200);
      res.write('partial');
    });
    const started = Date.now();
    expect((await httpProbe(target(port))).ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('recordProbe', () => {
  it.each([
    [0, true, 3, 0, 'pass'],
    [2, true, 3, 0, 'pass'],
    [0, false, 3, 1, 'pending'],
    [1, false, 3, 2, 'pending'],
    [2, false, 3, 3, 'fail'],
    [5, false, 3, 6, 'fail'],
    [0, false, 1, 1, 'fail'],
  ])(
    'after %i failures, a result ok=%s with threshold %i gives %i failures and %s',
    (before, ok, threshold, after, verdict) => {
      expect(recordProbe(before, ok, threshold)).toEqual({ consecutiveFailures: after, verdict });
    },
  );
});

describe('startProber', () => {
  it('reports failure only from the threshold on and a pass at once', async () => {
    let healthy = true;
    const port = await serve((_req, res) => {
      res.statusCode = healthy ? 200 : 500;
      res.end();
    });
    const events: string[] = [];
    const stop = startProber({
      host: '127.0.0.1',
      port,
      probe: { path: '/healthz', periodMs: 40, timeoutMs: 200, failureThreshold: 3, initialDelayMs: 0 },
      onPass: () => events.push('pass'),
      onFail: (failures, detail) => events.push(`fail ${failures} ${detail}`),
    });
    try {
      await expect.poll(() => events.length, { timeout: 2_000 }).toBeGreaterThan(0);
      healthy = false;
      await expect.poll(() => events, { timeout: 2_000 }).toContain('fail 4 HTTP 500');
      healthy = true;
      await expect.poll(() => events.at(-1), { timeout: 2_000 }).toBe('pass');
    } finally {
      stop();
    }
    const failures = events.filter((e) => e.startsWith('fail'));
    expect(failures.slice(0, 2)).toEqual(['fail 3 HTTP 500', 'fail 4 HTTP 500']);
  });

  it('waits out the initial delay, and reports and probes no more once stopped', async () => {
    let requests = 0;
    let reports = 0;
    const port = await serve((_req, res) => {
      requests++;
      res.end();
    });
    const stop = startProber({
      host: '127.0.0.1',
      port,
      probe: { path: '/readyz', periodMs: 30, timeoutMs: 200, failureThreshold: 1, initialDelayMs: 300 },
      onPass: () => reports++,
      onFail: () => reports++,
    });
    await sleep(200);
    expect(requests).toBe(0);
    await expect.poll(() => reports, { timeout: 2_000 }).toBeGreaterThan(1);
    stop();
    const reported = reports;
    // A probe already on the wire when stopped may still reach the server; its result is dropped.
    await sleep(300);
    const seen = requests;
    await sleep(300);
    expect(requests).toBe(seen);
    expect(reports).toBe(reported);
  });

  it('probes at the start-up period until the first pass, then at the full period', async () => {
    const startedAt = Date.now();
    const seenAt: number[] = [];
    const port = await serve((_req, res) => {
      seenAt.push(Date.now() - startedAt);
      res.statusCode = Date.now() - startedAt < 250 ? 503 : 200;
      res.end();
    });
    let passedAt = 0;
    const stop = startProber({
      host: '127.0.0.1',
      port,
      probe: { path: '/readyz', periodMs: 1_000, timeoutMs: 200, failureThreshold: 1, initialDelayMs: 0 },
      startupPeriodMs: 50,
      onPass: () => {
        passedAt ||= Date.now() - startedAt;
      },
      onFail: () => {},
    });
    try {
      await expect.poll(() => passedAt, { timeout: 2_000 }).toBeGreaterThan(0);
      expect(passedAt).toBeLessThan(600);
      const probesAtPass = seenAt.length;
      expect(probesAtPass).toBeGreaterThanOrEqual(4);
      await sleep(500);
      expect(seenAt.length).toBe(probesAtPass);
    } finally {
      stop();
    }
  });
});
