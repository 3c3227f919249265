import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONTROL_PATHS, PLAINTEXT_MESH, type RoutingTable, serviceRoutesOf } from '@flotilla/spec';
import { afterEach, describe, expect, it } from 'vitest';
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
