import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { PLAINTEXT_MESH, type RoutingTable, serviceRoutesOf } from '@flotilla/spec';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type TableSource, WatchStream } from './index.ts';

/** An in-memory table source: the registry's contract without a spec behind it. */
class Tables implements TableSource {
  #table: RoutingTable;
  readonly #listeners = new Set<(t: RoutingTable) => void>();
  constructor(revision: number, pad = '') {
    this.#table = table(revision, pad);
  }
  table() {
    return this.#table;
  }
  subscribe(listener: (t: RoutingTable) => void) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  push(revision: number, pad = '') {
    this.#table = table(revision, pad);
    for (const l of this.#listeners) l(this.#table);
  }
}

function table(revision: number, pad: string): RoutingTable {
  return {
    revision,
    system: 'watch-test',
    services: { api: serviceRoutesOf({ versions: { v1: { weight: 100, labels: { pad } } }, endpoints: [] }) },
    gateway: { listen: { host: '127.0.0.1', port: 0 }, replicas: 1, plugins: {}, routes: [] },
    mesh: PLAINTEXT_MESH,
  };
}

interface SseEvent {
  event?: string;
  id?: string;
  data?: string;
  comment?: string;
}

/** A real SSE client over node:http that records every event and comment it reads. */
function watch(url: string, headers: Record<string, string> = {}) {
  const events: SseEvent[] = [];
  const waiters: (() => void)[] = [];
  let response: IncomingMessage | undefined;
  const req = get(url, { headers }, (res) => {
    response = res;
    // Chunks are joined only when one may end an event, so multi-megabyte tables parse in linear time.
    let parts: string[] = [];
    let last = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      parts.push(chunk);
      const ends = chunk.includes('\n\n') || (last.endsWith('\n') && chunk.startsWith('\n'));
      last = chunk;
      if (!ends) return;
      const blocks = parts.join('').split('\n\n');
      parts = [blocks.pop()!];
      for (const block of blocks) events.push(parseEvent(block));
      for (const w of waiters.splice(0)) w();
    });
  });
  req.on('error', () => {});
  return {
    events,
    status: () => response?.statusCode,
    headers: () => response?.headers,
    tables: () => events.filter((e) => e.event === 'table'),
    async until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out; events so far: ${events.length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 20);
        });
      }
    },
    close: () => req.destroy(),
  };
}

function parseEvent(block: string): SseEvent {
  const event: SseEvent = {};
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) event.comment = line.slice(1).trim();
    else {
      const at = line.indexOf(': ');
      const key = line.slice(0, at) as 'event' | 'id' | 'data';
      event[key] = line.slice(at + 2);
    }
  }
  return event;
}

const log = pino({ level: 'silent' });
let server: Server | undefined;
let stream: WatchStream | undefined;
const clients: { close(): void }[] = [];

async function serve(source: TableSource, heartbeatMs = 15_000): Promise<string> {
  const watchStream = new WatchStream({ source, heartbeatMs, log });
  stream = watchStream;
  server = createServer((req, res) => watchStream.handle(req, res));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/v1/watch`;
}

function client(url: string, headers?: Record<string, string>) {
  const c = watch(url, headers);
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  stream?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
  stream = undefined;
});

describe('watch stream', () => {
  it('sends the current table at once as an event named table with the revision as its id', async () => {
    const url = await serve(new Tables(7));
    const c = client(url);
    await c.until(() => c.tables().length === 1);
    expect(c.status()).toBe(200);
    expect(c.headers()?.['content-type']).toBe('text/event-stream; charset=utf-8');
    const [first] = c.tables();
    expect(first?.id).toBe('7');
    expect(JSON.parse(first!.data!)).toEqual(table(7, ''));
  });

  it('sends every new table to every connected client', async () => {
    const source = new Tables(1);
    const url = await serve(source);
    const a = client(url);
    const b = client(url);
    await a.until(() => a.tables().length === 1);
    await b.until(() => b.tables().length === 1);
    source.push(2);
    source.push(3);
    await a.until(() => a.tables().length === 3);
    await b.until(() => b.tables().length === 3);
    expect(a.tables().map((e) => e.id)).toEqual(['1', '2', '3']);
    expect(b.tables().map((e) => e.id)).toEqual(['1', '2', '3']);
    expect(stream?.size).toBe(2);
  });

  it('sends a ping comment at every heartbeat', async () => {
    const url = await serve(new Tables(1), 50);
    const c = client(url);
    await c.until(() => c.events.filter((e) => e.comment === 'ping').length >= 2);
  });

  it('sends nothing to a client whose Last-Event-ID is the current revision until the next change', async () => {
    const source = new Tables(41);
    const url = await serve(source);
    const c = client(url, { 'last-event-id': '41' });
    await c.until(() => c.status() === 200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(c.events).toEqual([]);
    source.push(42);
    await c.until(() => c.tables().length === 1);
    expect(c.tables()[0]?.id).toBe('42');
  });

  it('sends the current table to a client that last saw another revision, as after a control-plane restart', async () => {
    const url = await serve(new Tables(5));
    const c = client(url, { 'last-event-id': '900' });
    await c.until(() => c.tables().length === 1);
    expect(c.tables()[0]?.id).toBe('5');
  });

  it('forgets a client that leaves', async () => {
    const url = await serve(new Tables(1));
    const c = client(url);
    await c.until(() => c.tables().length === 1);
    c.close();
    const deadline = Date.now() + 5_000;
    while (stream!.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(stream!.size).toBe(0);
  });

  it('keeps a fast client current while a client that never reads is cut off at the heartbeat', async () => {
    const large = 'x'.repeat(4 * 1024 * 1024);
    const source = new Tables(1, large);
    const url = new URL(await serve(source, 500));
    const slow = connect(Number(url.port), '127.0.0.1');
    slow.on('error', () => {});
    clients.push({ close: () => slow.destroy() });
    slow.pause();
    slow.write(`GET /v1/watch HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    const fast = client(url.href);
    await fast.until(() => fast.tables().length === 1);
    while (stream!.size < 2) await new Promise((r) => setTimeout(r, 10));
    for (let revision = 2; revision <= 12; revision++) source.push(revision, large);
    await fast.until(() => fast.tables().at(-1)?.id === '12', 10_000);
    const deadline = Date.now() + 10_000;
    while (stream!.size > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(stream!.size).toBe(1);
    source.push(13);
    await fast.until(() => fast.tables().at(-1)?.id === '13');
  });
});
