import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONTROL_PATHS, PLAINTEXT_MESH, type RoutingTable, serviceRoutesOf } from '@flotilla/spec';
import { afterEach, describe, expect, it } from 'vitest';
import { routesOf, startTestControlPlane } from './mesh.fixture.ts';
import { createService, type Service } from './service.ts';

const quiet = { write: () => undefined };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A control plane's watch stream that sends the table it is given, when it is given one. */
async function startWatchStub(token: string) {
  const streams = new Set<ServerResponse>();
  let table: RoutingTable | undefined;
  const send = (res: ServerResponse) => {
    if (table) res.write(`event: table\nid: ${table.revision}\ndata: ${JSON.stringify(table)}\n\n`);
  };
  const server = createServer((req, res) => {
    if (req.url !== CONTROL_PATHS.watch || req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    streams.add(res);
    res.on('close', () => streams.delete(res));
    send(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    publish(next: RoutingTable) {
      table = next;
      for (const res of streams) send(res);
    },
  };
}

function started(service: Service): Service {
  cleanups.push(() => service.stop());
  return service;
}

describe('service.mesh', () => {
  it('stays unready until the first routing table arrives, then calls another service by name', async () => {
    const clock = started(createService({ name: 'clock', env: { PORT: '0' }, logDestination: quiet }));
    clock.get('/time', () => ({ now: 'noon', caller: 'clock' }));
    await clock.start();

    const watch = await startWatchStub('dp-token');
    const greeter = started(
      createService({
        name: 'greeter',
        env: { PORT: '0', FLOTILLA_CONTROL_URL: watch.url, FLOTILLA_DATAPLANE_TOKEN: 'dp-token' },
        logDestination: quiet,
      }),
    );
    greeter.get('/greet', async () => {
      const res = await greeter.mesh.request({ service: 'clock', path: '/time', timeoutMs: 2000 });
      return { time: res.json<{ now: string }>().now };
    });
    const starting = greeter.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(greeter.ready).toBe(false);

    watch.publish({
      revision: 1,
      system: 'local',
      services: {
        clock: serviceRoutesOf({
          versions: { v1: { weight: 100, labels: {} } },
          endpoints: [
            { id: 'clock-v1-1', service: 'clock', version: 'v1', host: '127.0.0.1', port: clock.port },
          ],
        }),
      },
      gateway: { listen: { host: '127.0.0.1', port: 0 }, replicas: 1, plugins: {}, routes: [] },
      mesh: PLAINTEXT_MESH,
    });
    await starting;
    expect(greeter.ready).toBe(true);
    const res = await fetch(`http://127.0.0.1:${greeter.port}/greet`);
    expect(await res.json()).toEqual({ time: 'noon' });
  });

  it('names FLOTILLA_CONTROL_URL when used outside Flotilla', () => {
    const service = createService({ name: 'alone', env: {}, logDestination: quiet });
    expect(() => service.mesh).toThrow(
      expect.objectContaining({
        code: 'FLOTILLA_CONFIG_MISSING',
        message: expect.stringContaining('FLOTILLA_CONTROL_URL'),
      }),
    );
  });
});

describe('calls made while handling a request', () => {
  /** What a catalog instance saw of a call, and which version it is. */
  interface Seen {
    version: string;
    headers: Record<string, string | undefined>;
  }

  const PROPAGATED = ['traceparent', 'tracestate', 'baggage', 'x-flotilla-version', 'x-flotilla-timeout-ms'];

  /**
   * web v2 -> catalog (v1 at weight 100, v2 at 0) -> stock v1, on a plaintext mesh. web's
   * `GET /relay` waits `?waitMs`, then calls catalog's `/echo`, which answers with what it
   * received, calling stock first when given `?stock`.
   */
  async function startChain(options: { versionAffinity?: boolean } = {}) {
    const cp = await startTestControlPlane();
    cleanups.push(() => cp.close());
    const create = (name: string, version: string) =>
      started(createService({ name, env: { PORT: '0', ...cp.env(name, version) }, logDestination: quiet }));

    const stock = create('stock', 'v1');
    stock.get('/level', () => ({ level: 4 }));
    const catalogs = ['v1', 'v2'].map((version) => {
      const catalog = create('catalog', version);
      catalog.get('/echo', async (ctx) => {
        if (ctx.query.has('stock')) await catalog.mesh.request({ service: 'stock', path: '/level' });
        const headers = Object.fromEntries(PROPAGATED.map((h) => [h, ctx.headers[h] as string | undefined]));
        return { version, headers } satisfies Seen;
      });
      return catalog;
    });
    const web = create('web', 'v2');
    const background: Seen[] = [];
    web.background('poll', async (signal) => {
      while (!web.mesh.table()?.services.catalog) await new Promise((resolve) => setTimeout(resolve, 10));
      background.push((await web.mesh.request({ service: 'catalog', path: '/echo' })).json<Seen>());
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
    });
    web.get('/relay', async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, Number(ctx.query.get('waitMs') ?? 0)));
      const path = ctx.query.has('stock') ? '/echo?stock' : '/echo';
      return (await web.mesh.request({ service: 'catalog', path })).json<Seen>();
    });

    // Every service is ready with a first table; the second one knows where they listen.
    const mesh = { mtls: 'disable', versionAffinity: options.versionAffinity ?? false } as const;
    cp.publish({}, mesh);
    const all = [stock, ...catalogs, web];
    await Promise.all(all.map((service) => service.start()));
    const table = cp.publish(
      {
        stock: routesOf('stock', { v1: stock.port }),
        catalog: routesOf(
          'catalog',
          { v1: catalogs[0]!.port, v2: catalogs[1]!.port },
          { weights: { v1: 100, v2: 0 } },
        ),
        web: routesOf('web', { v2: web.port }),
      },
      mesh,
    );
    while (all.some((service) => service.mesh.table()?.revision !== table.revision)) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const relay = async (query = '', headers: Record<string, string> = {}) => {
      const res = await fetch(`http://127.0.0.1:${web.port}/relay${query}`, { headers });
      return {
        status: res.status,
        fallback: res.headers.get('x-flotilla-version-fallback'),
        seen: (await res.json()) as Seen,
      };
    };
    return { relay, background };
  }

  it('carries the trace context and the baggage of the request on to the service it calls', async () => {
    const { relay } = await startChain();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const { seen } = await relay('', { traceparent, tracestate: 'vendor=1', baggage: 'user=alice' });
    expect(seen.headers).toMatchObject({ traceparent, tracestate: 'vendor=1', baggage: 'user=alice' });
  });

  it("gives the service it calls what is left of the caller's deadline, not the whole of it", async () => {
    const { relay } = await startChain();
    const { seen } = await relay('?waitMs=300', { 'x-flotilla-timeout-ms': '3000' });
    const left = Number(seen.headers['x-flotilla-timeout-ms']);
    expect(left).toBeLessThanOrEqual(2_700);
    expect(left).toBeGreaterThan(1_500);
  });

  it('keeps a request pinned by x-flotilla-version on that version downstream, as baggage', async () => {
    const { relay } = await startChain();
    expect((await relay()).seen.version).toBe('v1');
    const { seen } = await relay('', { 'x-flotilla-version': 'v2', baggage: 'user=alice' });
    expect(seen.version).toBe('v2');
    expect(seen.headers.baggage).toMatch(/(^|,)\s*flotilla-version=v2\s*(,|$)/);
    expect(seen.headers.baggage).toContain('user=alice');
  });

  it('pins a request nobody pinned to its own version when the table asks for version affinity', async () => {
    const { relay } = await startChain({ versionAffinity: true });
    const { seen } = await relay();
    expect(seen.version).toBe('v2');
    expect(seen.headers.baggage).toContain('flotilla-version=v2');
  });

  it('answers with every hop that fell back in x-flotilla-version-fallback, the ones further down too, once each', async () => {
    const { relay } = await startChain();
    const direct = await relay('', { 'x-flotilla-version': 'v3' });
    expect(direct.seen.version).toBe('v1');
    expect(direct.fallback).toBe('catalog=v1');

    // catalog's call to stock, still pinned to v3, falls back too; catalog says so and web passes it on.
    const chained = await relay('?stock', { 'x-flotilla-version': 'v3' });
    expect(chained.fallback).toBe('catalog=v1,stock=v1');
    expect((await relay()).fallback).toBeNull();
  });

  it('gives a background task no request to carry on: no pin, even under version affinity', async () => {
    const { background } = await startChain({ versionAffinity: true });
    while (background.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(background[0]!.version).toBe('v1');
    expect(background[0]!.headers.baggage).toBeUndefined();
  });
});
