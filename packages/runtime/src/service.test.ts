import { connect } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HttpError } from './errors.ts';
import { reply } from './reply.ts';
import { createService, type Service } from './service.ts';

const LIMIT_BYTES = 1024;
const lines: Record<string, unknown>[] = [];
let service: Service;
let base: string;

const order = z.object({
  customer: z.string().min(1),
  items: z.array(z.object({ sku: z.string(), qty: z.int().positive() })).min(1),
});

beforeAll(async () => {
  service = createService({
    name: 'orders',
    bodyLimitBytes: LIMIT_BYTES,
    env: { PORT: '0', FLOTILLA_VERSION: 'v2', FLOTILLA_INSTANCE: 'orders-v2-1', FLOTILLA_LOG_LEVEL: 'debug' },
    logDestination: { write: (line: string) => lines.push(JSON.parse(line)) },
  });
  service.get('/api/orders/v1/orders/:id', (ctx) => ({ id: ctx.params.id }));
  service.post('/api/orders/v1/orders', { body: order }, (ctx) =>
    reply(
      201,
      { customer: ctx.body.customer, lines: ctx.body.items.length },
      { location: '/api/orders/v1/orders/1' },
    ),
  );
  service.delete('/api/orders/v1/orders/:id', () => undefined);
  service.get(
    '/search',
    { query: z.object({ limit: z.coerce.number().int().max(100), tag: z.array(z.string()) }) },
    (ctx) => ({
      limit: ctx.query.limit,
      tags: ctx.query.tag,
    }),
  );
  service.post('/echo', (ctx) => ({ received: ctx.body ?? null }));
  service.get('/whoami', (ctx) => ctx.caller);
  service.get('/boom', () => {
    throw new Error('connection to postgres://admin:pw@db failed');
  });
  service.get('/teapot', () => {
    throw new HttpError(418, 'TEAPOT', 'I am a teapot.', { details: { brew: false } });
  });
  service.get('/log', (ctx) => {
    ctx.log.info({ headers: ctx.headers }, 'handler saw headers');
    return { ok: true };
  });
  await service.start();
  base = `http://127.0.0.1:${service.port}`;
});

afterAll(async () => {
  await service?.stop();
});

beforeEach(() => {
  lines.length = 0;
});

async function json(
  path: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(base + path, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

function post(
  path: string,
  body: string,
  contentType = 'application/json',
): Promise<{ status: number; headers: Headers; body: unknown }> {
  return json(path, { method: 'POST', body, headers: { 'content-type': contentType } });
}

/** Sends raw bytes on a fresh connection; `feed` may keep writing until the response arrives. */
function raw(
  head: string,
  feed?: (write: (chunk: string) => boolean, answered: () => boolean) => Promise<void>,
): Promise<{ response: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(service.port, '127.0.0.1');
    let response = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      response += chunk;
    });
    // Writing after the server closed fails with EPIPE or ECONNRESET; the response is what matters.
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ response, closedByServer: true }));
    socket.write(head);
    feed?.(
      (chunk) => !socket.destroyed && socket.write(chunk),
      () => response.includes('\r\n\r\n'),
    ).catch(reject);
    setTimeout(() => {
      socket.destroy();
      resolve({ response, closedByServer: false });
    }, 3000).unref();
  });
}

describe('routing', () => {
  it('answers a returned value as 200 JSON with the path parameters decoded', async () => {
    const res = await json('/api/orders/v1/orders/a%2Fb');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.body).toEqual({ id: 'a/b' });
  });

  it('answers with the status and headers of reply(), and 204 when a handler returns nothing', async () => {
    const created = await post(
      '/api/orders/v1/orders',
      JSON.stringify({ customer: 'c1', items: [{ sku: 'a', qty: 1 }] }),
    );
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/api/orders/v1/orders/1');
    expect(created.body).toEqual({ customer: 'c1', lines: 1 });
    const deleted = await json('/api/orders/v1/orders/1', { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBeUndefined();
  });

  it('answers 404 NOT_FOUND for a path no route matches', async () => {
    const res = await json('/api/orders/v1/nothing');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'NOT_FOUND', message: 'No route matches this path.' } });
  });

  it('answers 405 with an Allow header for a known path and another method', async () => {
    const res = await json('/api/orders/v1/orders/7', { method: 'PUT' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('DELETE, GET, HEAD');
    expect((res.body as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('keeps the x-request-id a caller sends and creates one when there is none', async () => {
    const kept = await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'req-123' } });
    expect(kept.headers.get('x-request-id')).toBe('req-123');
    const created = await fetch(`${base}/healthz`);
    expect(created.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gives handlers the caller the gateway vouched for, with roles split on commas', async () => {
    const res = await json('/whoami', {
      headers: { 'x-flotilla-subject': 'user-7', 'x-flotilla-roles': 'admin, ops,' },
    });
    expect(res.body).toEqual({ subject: 'user-7', roles: ['admin', 'ops'] });
    expect((await json('/whoami')).body).toEqual({ roles: [] });
  });
});

describe('input', () => {
  it('refuses a body that fails its schema with 400 VALIDATION_FAILED naming each field', async () => {
    const res = await post(
      '/api/orders/v1/orders',
      JSON.stringify({ customer: '', items: [{ sku: 'a', qty: 0 }] }),
    );
    expect(res.status).toBe(400);
    const { error } = res.body as { error: { code: string; details: { path: string; message: string }[] } };
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details.map((d) => d.path).sort()).toEqual(['customer', 'items[0].qty']);
    expect(error.details.every((d) => d.message.length > 0)).toBe(true);
  });

  it('refuses a missing body on a route with a body schema', async () => {
    const res = await json('/api/orders/v1/orders', { method: 'POST' });
    expect(res.status).toBe(400);
    expect((res.body as { error: { details: { path: string }[] } }).error.details[0]?.path).toBe('');
  });

  it('validates the query against a query schema, repeated keys becoming arrays', async () => {
    expect((await json('/search?limit=5&tag=a&tag=b')).body).toEqual({ limit: 5, tags: ['a', 'b'] });
    const bad = await json('/search?limit=500&tag=a');
    expect(bad.status).toBe(400);
    const { error } = bad.body as { error: { message: string; details: { path: string }[] } };
    expect(error.message).toMatch(/query/);
    expect(error.details.map((d) => d.path)).toEqual(['limit', 'tag']);
  });

  it('refuses malformed JSON with 400 INVALID_JSON', async () => {
    const res = await post('/echo', '{"a":');
    expect(res.status).toBe(400);
    expect((res.body as { error: { code: string } }).error.code).toBe('INVALID_JSON');
  });

  it('accepts application/*+json and a charset, and refuses other content types with 415', async () => {
    expect((await post('/echo', '{"a":1}', 'application/merge-patch+json; charset=utf-8')).body).toEqual({
      received: { a: 1 },
    });
    const res = await post('/echo', 'a=1', 'application/x-www-form-urlencoded');
    expect(res.status).toBe(415);
    expect((res.body as { error: { code: string } }).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses a declared Content-Length over the limit with 413 before any of the body is sent', async () => {
    const { response, closedByServer } = await raw(
      `POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${LIMIT_BYTES + 1}\r\n\r\n`,
    );
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response.toLowerCase()).toContain('connection: close');
    expect(response).toContain('"code":"BODY_TOO_LARGE"');
    expect(closedByServer).toBe(true);
  });

  it('cuts off a chunked body with 413 as soon as it passes the limit, without reading the rest', async () => {
    const chunk = 'x'.repeat(300);
    let sent = 0;
    const { response, closedByServer } = await raw(
      'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      async (write, answered) => {
        while (!answered() && sent < 100 * chunk.length) {
          if (!write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)) break;
          sent += chunk.length;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      },
    );
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(closedByServer).toBe(true);
    expect(sent).toBeLessThan(20 * chunk.length);
  });

  it('accepts a body of exactly the limit', async () => {
    const body = JSON.stringify({ s: 'y'.repeat(LIMIT_BYTES - 8) });
    expect(body.length).toBe(LIMIT_BYTES);
    expect((await post('/echo', body)).status).toBe(200);
  });
});

describe('errors', () => {
  it('answers an unexpected error with 500 INTERNAL, no message or stack, and logs the stack', async () => {
    const res = await fetch(`${base}/boom`);
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(JSON.parse(text)).toEqual({ error: { code: 'INTERNAL', message: 'Internal error.' } });
    expect(text).not.toMatch(/postgres|stack|at /);
    const logged = lines.find((l) => l.msg === 'request failed') as {
      err: { stack: string };
      request_id: string;
    };
    expect(logged.err.stack).toContain('connection to postgres://admin:pw@db failed');
    expect(logged.request_id).toBe(res.headers.get('x-request-id'));
  });

  it('renders a thrown HttpError with its status, code, message and details', async () => {
    const res = await json('/teapot');
    expect(res.status).toBe(418);
    expect(res.body).toEqual({
      error: { code: 'TEAPOT', message: 'I am a teapot.', details: { brew: false } },
    });
  });
});

describe('probes and metrics', () => {
  it('answers /healthz always, and /readyz 503 while set unready and 200 again after', async () => {
    expect((await json('/healthz')).body).toEqual({ status: 'ok' });
    expect((await json('/readyz')).status).toBe(200);
    service.setReady(false);
    expect(service.ready).toBe(false);
    const unready = await json('/readyz');
    expect(unready.status).toBe(503);
    expect(unready.body).toEqual({ status: 'not ready', reason: 'set unready' });
    expect((await json('/healthz')).status).toBe(200);
    service.setReady(true);
    expect((await json('/readyz')).status).toBe(200);
  });

  it('counts requests by method, route pattern and code in the Prometheus text format', async () => {
    await fetch(`${base}/api/orders/v1/orders/1`);
    await fetch(`${base}/api/orders/v1/orders/2`);
    await fetch(`${base}/missing`);
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(text).toContain('# TYPE http_server_requests_total counter');
    expect(text).toContain('# TYPE http_server_request_duration_seconds histogram');
    expect(
      value('http_server_requests_total{method="GET",route="/api/orders/v1/orders/:id",code="200"}'),
    ).toBeGreaterThanOrEqual(2);
    expect(
      value('http_server_requests_total{method="GET",route="unmatched",code="404"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      value(
        'http_server_request_duration_seconds_count{method="GET",route="/api/orders/v1/orders/:id",code="200"}',
      ),
    ).toBeGreaterThanOrEqual(2);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toContain('nodejs_eventloop_lag_p99_seconds');
  });
});

describe('logs', () => {
  it('writes one access line per request with service, version, instance and the trace id of traceparent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await fetch(`${base}/api/orders/v1/orders/9?token=abc`, {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, 'x-request-id': 'r-9' },
    });
    const access = lines.filter((l) => l.msg === 'request');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({
      level: 'info',
      service: 'orders',
      version: 'v2',
      instance: 'orders-v2-1',
      method: 'GET',
      path: '/api/orders/v1/orders/9',
      status: 200,
      request_id: 'r-9',
      trace_id: traceId,
    });
    expect(typeof access[0]?.duration_ms).toBe('number');
  });

  it('never writes an Authorization header, even when a handler logs all headers', async () => {
    await fetch(`${base}/log`, { headers: { authorization: 'Bearer very-secret-token' } });
    const text = JSON.stringify(lines);
    expect(text).toContain('handler saw headers');
    expect(text).not.toContain('very-secret-token');
  });

  it('logs probe requests at debug, not info', async () => {
    await fetch(`${base}/healthz`);
    expect(lines.find((l) => l.msg === 'request' && l.path === '/healthz')?.level).toBe('debug');
  });
});
