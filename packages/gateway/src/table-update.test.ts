import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import { describe, expect, it } from 'vitest';
import type { PluginRegistry } from './plugin-chain.ts';
import { plugins as builtInPlugins } from './plugins/index.ts';
import { routeSpec, send, tableOf, testServers } from './test-harness.ts';

const servers = testServers();

describe('table updates', () => {
  it('switches routes live without dropping a keep-alive connection that is mid-response', async () => {
    const orders = await servers.upstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first half;');
      setTimeout(() => res.end('second half'), req.url === '/slow' ? 300 : 0);
    });
    const before = tableOf(
      1,
      {
        routes: [
          routeSpec({ service: 'orders', match: { pathPrefix: '/slow' } }),
          routeSpec({ service: 'orders', match: { pathPrefix: '/old' } }),
        ],
      },
      { orders: [orders.port] },
    );
    const gw = await servers.gateway(before);
    let connections = 0;
    gw.server.on('connection', () => connections++);
    const client = new Client(gw.url, { pipelining: 1 });
    servers.defer(() => client.close());

    const slow = client.request({ method: 'GET', path: '/slow' });
    await sleep(100);
    gw.gateway.update(
      tableOf(
        2,
        {
          routes: [
            routeSpec({ service: 'orders', match: { pathPrefix: '/slow' } }),
            routeSpec({ service: 'orders', match: { pathPrefix: '/new' } }),
          ],
        },
        { orders: [orders.port] },
      ),
    );
    const slowRes = await slow;
    expect(await slowRes.body.text()).toBe('first half;second half');
    const added = await client.request({ method: 'GET', path: '/new' });
    await added.body.dump();
    const removed = await client.request({ method: 'GET', path: '/old' });
    await removed.body.dump();
    expect([slowRes.statusCode, added.statusCode, removed.statusCode]).toEqual([200, 200, 404]);
    expect(connections).toBe(1);
    expect(gw.gateway.revision()).toBe(2);
  });

  it('closes replaced plugins only after the requests that use them have finished', async () => {
    const orders = await servers.upstream((req, res) => {
      req.resume();
      setTimeout(() => res.end('done'), 200);
    });
    const closed: string[] = [];
    const registry: PluginRegistry = {
      ...builtInPlugins,
      headers: (config) => ({
        name: 'headers',
        onRequest() {},
        async close() {
          closed.push(Object.keys(config.response?.set ?? {}).join());
        },
      }),
    };
    const spec = (header: string) =>
      tableOf(
        1,
        {
          plugins: { headers: { response: { set: { [header]: '1' }, remove: [] } } },
          routes: [routeSpec({ service: 'orders' })],
        },
        { orders: [orders.port] },
      );
    const gw = await servers.gateway(spec('x-first'), registry);
    const inFlight = send(`${gw.url}/slow`);
    while (orders.seen.length === 0) await sleep(10);
    gw.gateway.update({ ...spec('x-second'), revision: 2 });
    await sleep(50);
    expect(closed).toEqual([]);
    expect((await inFlight).status).toBe(200);
    const deadline = Date.now() + 1_000;
    while (closed.length === 0 && Date.now() < deadline) await sleep(10);
    expect(closed).toEqual(['x-first']);
  });

  it('keeps the previous routes when a new gateway spec has a plugin config that cannot work', async () => {
    const orders = await servers.upstream();
    const gw = await servers.gateway(
      tableOf(1, { routes: [routeSpec({ service: 'orders' })] }, { orders: [orders.port] }),
    );
    const broken = { origins: ['not an origin'] } as never;
    gw.gateway.update(
      tableOf(
        2,
        { plugins: { cors: broken }, routes: [routeSpec({ service: 'orders' })] },
        { orders: [orders.port] },
      ),
    );
    expect(gw.gateway.revision()).toBe(1);
    expect((await send(`${gw.url}/x`)).status).toBe(200);
  });
});
