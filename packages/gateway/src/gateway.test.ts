import { HEADERS } from '@flotilla/spec';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import type { PluginRegistry } from './plugin-chain.ts';
import { plugins as builtInPlugins } from './plugins/index.ts';
import { rawRequest, routeSpec, send, tableOf, testServers } from './test-harness.ts';

const servers = testServers();

describe('proxying', () => {
  it('forwards to the route service with the path rewritten and the query kept', async () => {
    const orders = await servers.upstream();
    const gw = await servers.gateway(
      tableOf(
        1,
        {
          routes: [
            routeSpec({ service: 'orders', match: { pathPrefix: '/api/orders' }, stripPrefix: true }),
            routeSpec({ service: 'orders', match: { pathPrefix: '/shop' }, rewritePrefix: '/v2' }),
          ],
        },
        { orders: [orders.port] },
      ),
    );
    const stripped = await send(`${gw.url}/api/orders/7?expand=items&q=a%20b`);
    expect(stripped.status).toBe(200);
    expect(stripped.json()).toEqual({ url: '/7?expand=items&q=a%20b' });
    const rewritten = await send(`${gw.url}/shop/cart?id=3`);
    expect(rewritten.json()).toEqual({ url: '/v2/cart?id=3' });
    expect(orders.seen.map((r) => r.url)).toEqual(['/7?expand=items&q=a%20b', '/v2/cart?id=3']);
  });

  it('never forwards hop-by-hop headers, headers named in Connection or forged identity and forwarding headers', async () => {
    const orders = await servers.upstream((req, res) => {
      req.resume();
      res.writeHead(200, {
        connection: 'x-upstream-hop',
        'x-upstream-hop': '1',
        'proxy-authenticate': 'Basic',
      });
      res.end('ok');
    });
    const gw = await servers.gateway(
      tableOf(1, { routes: [routeSpec({ service: 'orders' })] }, { orders: [orders.port] }),
    );
    const res = await rawRequest(gw.url, {
      method: 'POST',
      path: '/x',
      body: 'payload',
      headers: {
        host: 'shop.test:8080',
        connection: 'keep-alive, x-client-hop',
        'x-client-hop': 'secret',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'transfer-encoding': 'chunked',
        trailer: 'x-checksum',
        upgrade: 'websocket',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        [HEADERS.subject]: 'admin',
        [HEADERS.roles]: 'admin',
        [HEADERS.mirror]: '1',
        'x-forwarded-for': '10.9.9.9',
        forwarded: 'for=10.9.9.9',
        'x-kept': 'yes',
      },
    });
    expect(res.status).toBe(200);
    const seen = orders.seen[0]!.headers;
    for (const name of [
      'x-client-hop',
      'keep-alive',
      'te',
      'trailer',
      'upgrade',
      'proxy-authorization',
      HEADERS.subject,
      HEADERS.roles,
      HEADERS.mirror,
      'forwarded',
    ]) {
      expect(seen, name).not.toHaveProperty(name);
    }
    expect(seen['x-kept']).toBe('yes');
    expect(orders.seen[0]!.bodyBytes).toBe('payload'.length);
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe('shop.test:8080');
    expect(seen[HEADERS.requestId]).toBe(res.headers[HEADERS.requestId]);
    expect(res.headers).not.toHaveProperty('x-upstream-hop');
    expect(res.headers).not.toHaveProperty('proxy-authenticate');
  });

  it('sends the identity of a verified token upstream, in place of any the client sent', async () => {
    const orders = await servers.upstream();
    const registry: PluginRegistry = {
      ...builtInPlugins,
      jwt: () => ({
        name: 'jwt',
        onRequest(ctx) {
          ctx.subject = 'alice';
          ctx.roles = ['admin', 'ops'];
        },
      }),
    };
    const jwt = { issuer: 'https://id.test', audience: 'shop', keys: [{}] } as never;
    const gw = await servers.gateway(
      tableOf(1, { plugins: { jwt }, routes: [routeSpec({ service: 'orders' })] }, { orders: [orders.port] }),
      registry,
    );
    await send(`${gw.url}/me`, { headers: { [HEADERS.subject]: 'mallory', [HEADERS.roles]: 'root' } });
    expect(orders.seen[0]!.headers[HEADERS.subject]).toBe('alice');
    expect(orders.seen[0]!.headers[HEADERS.roles]).toBe('admin,ops');
  });

  it('streams a large body both ways without changing a byte', async () => {
    const orders = await servers.upstream((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
    });
    const gw = await servers.gateway(
      tableOf(1, { routes: [routeSpec({ service: 'orders' })] }, { orders: [orders.port] }),
    );
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    const res = await request(`${gw.url}/echo`, { method: 'POST', body: payload });
    const echoed = Buffer.from(await res.body.arrayBuffer());
    expect(res.statusCode).toBe(200);
    expect(echoed.equals(payload)).toBe(true);
  });
});

describe('route matching answers', () => {
  it('answers 404 ROUTE_NOT_FOUND as JSON with the request id', async () => {
    const gw = await servers.gateway(
      tableOf(
        1,
        { routes: [routeSpec({ service: 'orders', match: { pathPrefix: '/api' } })] },
        { orders: [] },
      ),
    );
    const res = await send(`${gw.url}/apix`);
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('application/json');
    const id = res.headers[HEADERS.requestId];
    expect(res.json()).toEqual({
      error: { code: 'ROUTE_NOT_FOUND', message: expect.any(String), requestId: id },
    });
  });

  it('answers 405 METHOD_NOT_ALLOWED with the methods the path allows', async () => {
    const gw = await servers.gateway(
      tableOf(
        1,
        {
          routes: [routeSpec({ service: 'orders', match: { pathPrefix: '/api', methods: ['GET', 'POST'] } })],
        },
        { orders: [] },
      ),
    );
    const res = await send(`${gw.url}/api/x`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, POST');
    expect(res.json().error.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('refuses a path with dot segments, which could reach a resource another route guards', async () => {
    const gw = await servers.gateway(
      tableOf(1, { routes: [routeSpec({ service: 'orders' })] }, { orders: [] }),
    );
    const res = await rawRequest(gw.url, { path: '/public/%2e%2e/admin' });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('BAD_REQUEST');
  });

  it('lets the route plugins answer a CORS preflight on a route that does not list OPTIONS', async () => {
    const orders = await servers.upstream();
    const cors = { origins: ['https://shop.test'] } as never;
    const gw = await servers.gateway(
      tableOf(
        1,
        {
          routes: [
            routeSpec({
              service: 'orders',
              match: { pathPrefix: '/api', methods: ['GET'] },
              plugins: { cors },
            }),
          ],
        },
        { orders: [orders.port] },
      ),
    );
    const res = await send(`${gw.url}/api/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.test', 'access-control-request-method': 'GET' },
    });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://shop.test');
    expect(orders.seen).toHaveLength(0);
  });
});

describe('plugins', () => {
  it('runs onResponse hooks on upstream answers, gateway errors and plugin replies alike', async () => {
    const orders = await servers.upstream();
    const headers = { response: { set: { 'x-gateway': 'flotilla' }, remove: [] } };
    const cors = { origins: ['https://shop.test'] } as never;
    const gw = await servers.gateway(
      tableOf(
        1,
        {
          plugins: { headers, cors },
          routes: [
            routeSpec({ service: 'orders', match: { pathPrefix: '/ok' } }),
            routeSpec({ service: 'nobody', match: { pathPrefix: '/down' } }),
          ],
        },
        { orders: [orders.port], nobody: [] },
      ),
    );
    const answered = await send(`${gw.url}/ok`);
    const failed = await send(`${gw.url}/down`);
    const replied = await send(`${gw.url}/ok`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.test', 'access-control-request-method': 'GET' },
    });
    expect([answered.status, failed.status, replied.status]).toEqual([200, 503, 204]);
    for (const res of [answered, failed, replied]) {
      expect(res.headers['x-gateway']).toBe('flotilla');
      expect(res.headers[HEADERS.requestId]).toEqual(expect.any(String));
    }
  });

  it('answers 500 INTERNAL without internals when a plugin fails unexpectedly', async () => {
    const orders = await servers.upstream();
    const registry: PluginRegistry = {
      ...builtInPlugins,
      rateLimit: () => ({
        name: 'rateLimit',
        async onRequest() {
          throw new Error('redis exploded at /srv/secret/path.ts:12');
        },
      }),
    };
    const rateLimit = {} as never;
    const gw = await servers.gateway(
      tableOf(
        1,
        { plugins: { rateLimit }, routes: [routeSpec({ service: 'orders' })] },
        { orders: [orders.port] },
      ),
      registry,
    );
    const res = await send(`${gw.url}/x`);
    expect(res.status).toBe(500);
    expect(res.json().error.code).toBe('INTERNAL');
    expect(res.text).not.toContain('redis');
    expect(orders.seen).toHaveLength(0);
  });

  it('lets a route replace a global plugin config or turn the plugin off', async () => {
    const orders = await servers.upstream();
    const global = { response: { set: { 'x-from': 'global' }, remove: [] } };
    const own = { response: { set: { 'x-from': 'route' }, remove: [] } };
    const gw = await servers.gateway(
      tableOf(
        1,
        {
          plugins: { headers: global },
          routes: [
            routeSpec({ service: 'orders', match: { pathPrefix: '/global' } }),
            routeSpec({ service: 'orders', match: { pathPrefix: '/own' }, plugins: { headers: own } }),
            routeSpec({ service: 'orders', match: { pathPrefix: '/off' }, plugins: { headers: false } }),
          ],
        },
        { orders: [orders.port] },
      ),
    );
    expect((await send(`${gw.url}/global`)).headers['x-from']).toBe('global');
    expect((await send(`${gw.url}/own`)).headers['x-from']).toBe('route');
    const off = await send(`${gw.url}/off`);
    expect(off.headers).not.toHaveProperty('x-from');
    expect(off.headers[HEADERS.requestId]).toEqual(expect.any(String));
  });
});
