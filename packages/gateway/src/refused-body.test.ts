import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { RoutingTable } from '@flotilla/spec';
import { Client, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { GATEWAY_DEFAULTS } from './defaults.ts';
import { routeSpec, send, type TestGateway, tableOf, testServers } from './test-harness.ts';

const servers = testServers();

/** What the client announces: far more than the gateway may ever read of it. */
const DECLARED = 1024 ** 3;
/**
 * The most the gateway reads of a refused body's connection: request head, what Node's parser
 * buffers before it stops reading (64 KiB high-water mark, plus the read that crossed it) and
 * what the linger drops (`refusedBodyLinger.maxBytes`), with room to spare.
 */
const MAX_READ = 512 * 1024;
/** When the refused connection must be closed by: the linger plus a margin for a busy machine. */
const CLOSED_WITHIN_MS = GATEWAY_DEFAULTS.refusedBodyLinger.maxMs + 5_000;
const CHUNK = Buffer.alloc(64 * 1024, 120);
/** An Ed25519 public key: the jwt plugin is built from it, and no request here carries a token. */
const JWT = {
  keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }],
  algorithms: ['EdDSA'],
  issuer: 'https://id.test',
  audience: 'shop',
  clockSkewS: 30,
  rolesClaim: 'roles',
  jwksCacheS: 300,
} as never;

interface RawExchange {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from the first byte sent until the gateway closed the connection; undefined if it did not. */
  closedAfterMs: number | undefined;
  /** Bytes of the connection the gateway read (its socket's bytesRead). */
  gatewayRead: number;
}

/** Records, per connection the gateway accepts, how much it read by the time it closed. */
function readCounter(gw: TestGateway): Promise<number>[] {
  const closed: Promise<number>[] = [];
  gw.server.on('connection', (socket: Socket) => {
    closed.push(new Promise((resolve) => socket.once('close', () => resolve(socket.bytesRead))));
  });
  return closed;
}

/**
 * Sends `head` (which announces DECLARED bytes) on a raw socket, then body bytes as fast as the
 * gateway takes them, never stopping by itself, as a client uploading a large file does.
 */
async function upload(gw: TestGateway, head: string): Promise<RawExchange> {
  const reads = readCounter(gw);
  const { port } = new URL(gw.url);
  const socket = connect(Number(port), '127.0.0.1');
  const startMs = performance.now();
  let received = '';
  let closedAfterMs: number | undefined;
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  socket.on('error', () => {});
  let sent = 0;
  const pump = (): void => {
    while (!socket.destroyed && sent < DECLARED) {
      sent += CHUNK.length;
      if (!socket.write(CHUNK)) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  socket.write(head);
  pump();
  await new Promise<void>((resolve) => {
    const bound = setTimeout(() => {
      socket.destroy();
      resolve();
    }, CLOSED_WITHIN_MS);
    socket.once('close', () => {
      clearTimeout(bound);
      closedAfterMs ??= performance.now() - startMs;
      resolve();
    });
    // The gateway's FIN (or reset) is what says it closed; the socket may linger on our side.
    socket.once('end', () => {
      closedAfterMs = performance.now() - startMs;
      socket.destroy();
    });
  });
  const gatewayRead = await reads[0]!;
  return { ...parseResponse(received), closedAfterMs, gatewayRead };
}

function parseResponse(raw: string): Pick<RawExchange, 'status' | 'headers' | 'body'> {
  const end = raw.indexOf('\r\n\r\n');
  const lines = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(lines[0]?.split(' ')[1]), headers, body: raw.slice(end + 4) };
}

function post(path: string, extra = ''): string {
  return `POST ${path} HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/octet-stream\r\n${extra}Content-Length: ${DECLARED}\r\n\r\n`;
}

async function gatewayFor(
  table: (port: number) => RoutingTable,
): Promise<{ gw: TestGateway; seen: () => number }> {
  const orders = await servers.upstream();
  const gw = await servers.gateway(table(orders.port));
  return { gw, seen: () => orders.seen.length };
}

describe('a refused request whose body is still arriving', () => {
  const cases: {
    name: string;
    status: number;
    code: string;
    table: (port: number) => RoutingTable;
    before?: (gw: TestGateway) => Promise<void>;
    head: string;
  }[] = [
    {
      name: '401 from the jwt plugin',
      status: 401,
      code: 'UNAUTHORIZED',
      table: (port) =>
        tableOf(1, { plugins: { jwt: JWT }, routes: [routeSpec({ service: 'orders' })] }, { orders: [port] }),
      head: post('/orders'),
    },
    {
      name: '404 for no route',
      status: 404,
      code: 'ROUTE_NOT_FOUND',
      table: (port) =>
        tableOf(
          1,
          { routes: [routeSpec({ service: 'orders', match: { pathPrefix: '/api' } })] },
          { orders: [port] },
        ),
      head: post('/nowhere'),
    },
    {
      name: '429 from the rateLimit plugin',
      status: 429,
      code: 'RATE_LIMITED',
      // No token at all for a new client: one token, refilled once an hour, and a POST costs one.
      table: (port) =>
        tableOf(
          1,
          {
            plugins: {
              rateLimit: {
                key: 'ip',
                capacity: 1,
                refillPerSecond: 1 / 3600,
                store: 'memory',
                redisUrl: 'redis://127.0.0.1:1',
              },
            },
            routes: [routeSpec({ service: 'orders', match: { pathPrefix: '/api' } })],
          },
          { orders: [port] },
        ),
      before: async (gw) => {
        expect((await send(`${gw.url}/api/warm`)).status).toBe(200);
      },
      head: post('/api/orders'),
    },
    {
      name: '403 from the cors plugin',
      status: 403,
      code: 'CORS_REJECTED',
      table: (port) =>
        tableOf(
          1,
          {
            plugins: { cors: { origins: ['https://shop.test'] } as never },
            routes: [routeSpec({ service: 'orders' })],
          },
          { orders: [port] },
        ),
      head: `OPTIONS /orders HTTP/1.1\r\nHost: shop.test\r\nOrigin: https://evil.test\r\nAccess-Control-Request-Method: POST\r\nContent-Length: ${DECLARED}\r\n\r\n`,
    },
    {
      name: "503 of the gateway's own for a service without instances",
      status: 503,
      code: 'UPSTREAM_UNAVAILABLE',
      table: () => tableOf(1, { routes: [routeSpec({ service: 'empty' })] }, { empty: [] }),
      head: post('/orders'),
    },
    {
      name: '413 for a declared length over the limit',
      status: 413,
      code: 'BODY_TOO_LARGE',
      table: (port) =>
        tableOf(
          1,
          { plugins: { bodyLimit: { maxBytes: 1024 } }, routes: [routeSpec({ service: 'orders' })] },
          { orders: [port] },
        ),
      head: post('/orders'),
    },
  ];

  for (const { name, status, code, table, before, head } of cases) {
    it(`gets its answer (${name}), then the connection closes with at most ${MAX_READ / 1024} KiB of the 1 GiB read`, async () => {
      const { gw, seen } = await gatewayFor(table);
      await before?.(gw);
      const exchange = await upload(gw, head);
      expect(exchange.status).toBe(status);
      expect(exchange.headers.connection).toBe('close');
      expect(JSON.parse(exchange.body).error.code).toBe(code);
      expect(exchange.closedAfterMs).toBeLessThan(CLOSED_WITHIN_MS);
      expect(exchange.gatewayRead).toBeLessThan(MAX_READ);
      // The upstream saw the request that emptied the 429 case's bucket, never a refused one.
      expect(seen()).toBe(before === undefined ? 0 : 1);
    });
  }
});

describe('refusing a body', () => {
  it("passes on a service's early answer to a body still arriving, then closes without reading the rest", async () => {
    const orders = await servers.upstream((_req, res) => {
      // The service refuses at once and never reads the body.
      const body = '{"error":{"code":"UNAUTHORIZED","message":"no"}}';
      res.writeHead(401, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
    const gw = await servers.gateway(
      tableOf(1, { routes: [routeSpec({ service: 'orders' })] }, { orders: [orders.port] }),
    );
    const exchange = await upload(gw, post('/orders'));
    expect(exchange.status).toBe(401);
    expect(exchange.headers.connection).toBe('close');
    expect(JSON.parse(exchange.body).error.code).toBe('UNAUTHORIZED');
    expect(exchange.closedAfterMs).toBeLessThan(CLOSED_WITHIN_MS);
    // Until the answer, the body streams to the service: what the socket buffers of that second hop
    // took comes on top (about 4 MiB on loopback), but nothing near the 1 GiB announced.
    expect(exchange.gatewayRead).toBeLessThan(16 * 1024 * 1024);
  });

  it("ends a service's early answer as soon as the rest of a small body has arrived, not after the whole linger", async () => {
    // Chunked, so the client knows the answer is complete only when the gateway ends it.
    const orders = await servers.upstream((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"UNAUTHORIZED","message":"no"}}');
    });
    const gw = await servers.gateway(
      tableOf(1, { routes: [routeSpec({ service: 'orders' })] }, { orders: [orders.port] }),
    );
    const bodyBytes = 32 * 1024;
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
    servers.defer(async () => {
      socket.destroy();
    });
    socket.on('error', () => {});
    socket.setEncoding('latin1');
    let received = '';
    const answered = new Promise<void>((resolve) => {
      socket.on('data', (chunk: string) => {
        received += chunk;
        if (received.includes('\r\n\r\n')) resolve();
      });
    });
    socket.write(
      `POST /orders HTTP/1.1\r\nHost: shop.test\r\nContent-Length: ${bodyBytes}\r\n\r\n${'x'.repeat(1024)}`,
    );
    await answered;
    // The rest of the body, well within what the linger reads, once the answer has begun.
    const restSentMs = performance.now();
    socket.write('x'.repeat(bodyBytes - 1024));
    await once(socket, 'close');
    const closedAfterMs = performance.now() - restSentMs;
    expect(received).toMatch(/^HTTP\/1\.1 401 /);
    expect(received).toMatch(/\r\n0\r\n\r\n$/);
    expect(closedAfterMs).toBeLessThan(GATEWAY_DEFAULTS.refusedBodyLinger.maxMs);
  });

  it('lets undici, still sending a large body, read the 401 rather than a broken connection', async () => {
    const { gw } = await gatewayFor((port) =>
      tableOf(1, { plugins: { jwt: JWT }, routes: [routeSpec({ service: 'orders' })] }, { orders: [port] }),
    );
    let sent = 0;
    const body = new Readable({
      read() {
        sent += CHUNK.length;
        this.push(sent > 256 * CHUNK.length ? null : CHUNK);
      },
    });
    const res = await request(`${gw.url}/orders`, {
      method: 'POST',
      body,
      headers: { 'content-length': String(256 * CHUNK.length) },
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers.connection).toBe('close');
    expect((await res.body.json()) as object).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
  });

  it('keeps the connection open for the next request when the refused body had fully arrived', async () => {
    const { gw, seen } = await gatewayFor((port) =>
      tableOf(
        1,
        {
          routes: [
            routeSpec({ service: 'orders', match: { pathPrefix: '/open' } }),
            routeSpec({ service: 'orders', match: { pathPrefix: '/secure' }, plugins: { jwt: JWT } }),
          ],
        },
        { orders: [port] },
      ),
    );
    let connections = 0;
    gw.server.on('connection', () => connections++);
    const client = new Client(gw.url, { pipelining: 1 });
    servers.defer(() => client.close());
    const answers: { status: number; connection: unknown }[] = [];
    for (const path of ['/secure/orders', '/nowhere', '/open/orders', '/secure/orders']) {
      const res = await client.request({ method: 'POST', path, body: '{"productId":1,"quantity":2}' });
      await res.body.dump();
      answers.push({ status: res.statusCode, connection: res.headers.connection });
    }
    expect(answers.map((a) => a.status)).toEqual([401, 404, 200, 401]);
    expect(answers.map((a) => a.connection)).toEqual([
      'keep-alive',
      'keep-alive',
      'keep-alive',
      'keep-alive',
    ]);
    expect(connections).toBe(1);
    expect(seen()).toBe(1);
  });
});

describe('Expect: 100-continue', () => {
  /** Sends `head` alone (and the body once `onContinue` is called) and reads until a JSON answer has come. */
  function exchangeHead(
    gw: TestGateway,
    head: string,
    onContinue?: (socket: Socket) => void,
  ): Promise<string> {
    const { port } = new URL(gw.url);
    return new Promise((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(head));
      let received = '';
      let continued = false;
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        received += chunk;
        if (!continued && received.startsWith('HTTP/1.1 100')) {
          continued = true;
          onContinue?.(socket);
        }
        if (/\r\n\r\n\{.*\}$/s.test(received)) socket.end();
      });
      socket.on('error', () => {});
      const bound = setTimeout(() => socket.destroy(), CLOSED_WITHIN_MS);
      socket.on('close', () => {
        clearTimeout(bound);
        resolve(received);
      });
    });
  }

  it('refuses without 100 Continue, so that the client never sends the body', async () => {
    const { gw, seen } = await gatewayFor((port) =>
      tableOf(1, { plugins: { jwt: JWT }, routes: [routeSpec({ service: 'orders' })] }, { orders: [port] }),
    );
    const answer = await exchangeHead(gw, post('/orders', 'Expect: 100-continue\r\n'));
    expect(answer.startsWith('HTTP/1.1 401 ')).toBe(true);
    expect(answer).not.toContain('100 Continue');
    expect(seen()).toBe(0);
  });

  it('answers 100 Continue to a request on its way upstream, which then gets the body', async () => {
    const { gw } = await gatewayFor((port) =>
      tableOf(1, { routes: [routeSpec({ service: 'orders' })] }, { orders: [port] }),
    );
    const body = '{"productId":1}';
    const head = `POST /orders HTTP/1.1\r\nHost: shop.test\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`;
    const answer = await exchangeHead(gw, head, (socket) => socket.write(body));
    expect(answer.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ')).toBe(true);
  });
});
