import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { WatchGate } from './index.ts';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A gate in front of a stream that answers every client it is handed with one line. */
async function gated(open: boolean): Promise<{ gate: WatchGate; url: string; handed: () => number }> {
  let handed = 0;
  const gate = new WatchGate(
    {
      handle(_req, res) {
        handed++;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: table\ndata: {}\n\n');
      },
    },
    { open },
  );
  const server = createServer((req, res) => gate.handle(req, res));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    gate,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/watch`,
    handed: () => handed,
  };
}

function connectTo(url: string): { response: Promise<IncomingMessage>; abort(): void } {
  const req = get(url);
  req.on('error', () => {});
  return {
    response: new Promise((resolve) => req.once('response', resolve)),
    abort: () => req.destroy(),
  };
}

describe('WatchGate', () => {
  it('holds watch clients, answering nothing, until open() hands them to the stream', async () => {
    const { gate, url, handed } = await gated(false);
    const client = connectTo(url);
    let answered = false;
    void client.response.then(() => {
      answered = true;
    });
    await sleep(200);
    expect([answered, handed()]).toEqual([false, 0]);

    gate.open();
    const res = await client.response;
    expect(res.statusCode).toBe(200);
    expect(handed()).toBe(1);
    client.abort();
  });

  it('hands a client straight to the stream once open', async () => {
    const { url, handed } = await gated(true);
    const client = connectTo(url);
    expect((await client.response).statusCode).toBe(200);
    expect(handed()).toBe(1);
    client.abort();
  });

  it('forgets a held client that went away, so the stream never gets a closed response', async () => {
    const { gate, url, handed } = await gated(false);
    const client = connectTo(url);
    await sleep(100);
    client.abort();
    await sleep(100);
    gate.open();
    expect(handed()).toBe(0);
  });
});
