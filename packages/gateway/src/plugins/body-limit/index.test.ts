import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../errors.ts';
import { createTestContext, createTestDeps, runRequest } from '../test-context.ts';
import { bodyLimit } from './index.ts';

const deps = createTestDeps();

describe('bodyLimit', () => {
  it('rejects a declared Content-Length over the limit with BODY_TOO_LARGE (413)', async () => {
    const ctx = createTestContext({ method: 'POST', headers: { 'content-length': '101' } });
    const error = await runRequest(bodyLimit({ maxBytes: 100 }, deps), ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ code: 'BODY_TOO_LARGE', status: 413 });
  });

  it('accepts a declared Content-Length equal to the limit and hands the limit to the core', async () => {
    const ctx = createTestContext({ method: 'POST', headers: { 'content-length': '100' } });
    await runRequest(bodyLimit({ maxBytes: 100 }, deps), ctx);
    expect(ctx.maxBodyBytes).toBe(100);
  });

  it('hands the limit to the core for a chunked body, which declares no length', async () => {
    const ctx = createTestContext({ method: 'POST', headers: { 'transfer-encoding': 'chunked' } });
    await runRequest(bodyLimit({ maxBytes: 100 }, deps), ctx);
    expect(ctx.maxBodyBytes).toBe(100);
  });

  it('keeps a stricter limit already on the context', async () => {
    const ctx = createTestContext({ method: 'POST' });
    ctx.maxBodyBytes = 10;
    await runRequest(bodyLimit({ maxBytes: 100 }, deps), ctx);
    expect(ctx.maxBodyBytes).toBe(10);
  });

  it('answers 413 before the client has sent the body, without reading it', async () => {
    const plugin = bodyLimit({ maxBytes: 1024 }, deps);
    let flowingWhenRejected: boolean | null | undefined;
    const server = createServer(async (req, res) => {
      const ctx = createTestContext({ method: req.method, headers: req.headers as Record<string, string> });
      const error = await runRequest(plugin, { ...ctx, req }).catch((e: unknown) => e as GatewayError);
      flowingWhenRejected = req.readableFlowing;
      res.writeHead(error ? (error as GatewayError).status : 200, { connection: 'close' }).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const req = request({ host: '127.0.0.1', port, method: 'POST', headers: { 'content-length': 1e9 } });
      req.on('error', () => {});
      req.write('x'.repeat(10));
      const [res] = (await Promise.race([
        once(req, 'response'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5_000)),
      ])) as [{ statusCode: number; resume(): void }];
      res.resume();
      req.destroy();
      expect(res.statusCode).toBe(413);
      expect(flowingWhenRejected).toBeNull();
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
