import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { peerIdentity, WorkloadTls } from '@flotilla/mesh';
import pino from 'pino';
import { Client } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionFront } from './connection-front.ts';
import { createTestCa, type TestCa } from './mesh.fixture.ts';

const orders = { system: 'local', service: 'orders', version: 'v1' };
const payments = { system: 'local', service: 'payments', version: 'v1' };
const log = pino({ level: 'silent' });

let ca: TestCa;
let foreign: TestCa;
let workloadTls: WorkloadTls;
beforeAll(async () => {
  [ca, foreign] = await Promise.all([createTestCa('mesh'), createTestCa('stranger')]);
  const pair = await ca.credentials(payments);
  const bundle = [ca.root];
  workloadTls = new WorkloadTls({ current: () => pair, trustBundle: () => bundle });
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A front on port 0 before an HTTP server that says how each request came in and who sent it. */
async function startFront(options: { tls?: boolean; firstByteTimeoutMs?: number } = {}) {
  const connections: string[] = [];
  const http: Server = createServer((req, res) => {
    const socket = req.socket as TLSSocket;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          encrypted: socket.encrypted === true,
          peer: socket.encrypted ? (peerIdentity(socket) ?? null) : null,
          bodyBytes: body.length,
          bodySha256: createHash('sha256').update(body).digest('hex'),
        }),
      );
    });
  });
  http.on('connection', (socket: TLSSocket) => connections.push(socket.encrypted ? 'tls' : 'plain'));
  const front = new ConnectionFront(http, { log, firstByteTimeoutMs: options.firstByteTimeoutMs ?? 10_000 });
  if (options.tls !== false) front.tls = workloadTls.createServer();
  await front.listen(0, '127.0.0.1');
  let closed = false;
  const close = () => {
    if (closed) return Promise.resolve();
    closed = true;
    return new Promise<void>((resolve) => {
      front.close(resolve);
      front.closeAllConnections();
    });
  };
  cleanups.push(close);
  return { front, port: front.address()!.port, connections, close };
}

function plainClient(port: number): Client {
  const client = new Client(`http://127.0.0.1:${port}`);
  cleanups.push(() => client.destroy());
  return client;
}

function tlsClient(
  port: number,
  credentials: { key: string; cert: string } | undefined,
  root: string,
): Client {
  const client = new Client(`https://127.0.0.1:${port}`, {
    connect: { ...credentials, ca: [root], checkServerIdentity: () => undefined },
  });
  cleanups.push(() => client.destroy());
  return client;
}

async function get(client: Client, path = '/') {
  const res = await client.request({ method: 'GET', path });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

describe('ConnectionFront', () => {
  it('serves plaintext and mutual TLS on one port, each over one keep-alive connection', async () => {
    const { port, connections } = await startFront();
    const plain = plainClient(port);
    const tls = tlsClient(port, await ca.credentials(orders), ca.root);

    for (let i = 0; i < 3; i++) {
      expect((await get(plain)).body).toMatchObject({ encrypted: false, peer: null });
      expect((await get(tls)).body).toMatchObject({ encrypted: true, peer: orders });
    }
    expect(connections.sort()).toEqual(['plain', 'tls']);
  });

  it('reads a large plaintext body that arrives over many reads intact, the first byte included', async () => {
    const { port } = await startFront();
    const body = Buffer.alloc(4 * 1024 * 1024, 'x');
    body[0] = 0x7b;
    const res = await plainClient(port).request({ method: 'POST', path: '/', body });
    expect(await res.body.json()).toMatchObject({
      bodyBytes: body.length,
      bodySha256: createHash('sha256').update(body).digest('hex'),
    });
  });

  it('closes idle keep-alive connections of both kinds on closeIdleConnections, and close() then completes', async () => {
    const { front, port } = await startFront();
    const credentials = await ca.credentials(orders);
    const plain = connectTcp(port, '127.0.0.1');
    await once(plain, 'connect');
    const tls = connectTls({
      port,
      host: '127.0.0.1',
      ...credentials,
      ca: [ca.root],
      checkServerIdentity: () => undefined,
    });
    await once(tls, 'secureConnect');
    for (const socket of [plain, tls]) {
      socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
      await once(socket, 'data');
    }
    const closedBySever = Promise.all([once(plain, 'close'), once(tls, 'close')]);
    const frontClosed = new Promise<void>((resolve) => front.close(resolve));
    front.closeIdleConnections();
    await closedBySever;
    await frontClosed;
  });

  it('refuses a TLS client without a certificate and one whose certificate a foreign CA issued', async () => {
    const { port, connections } = await startFront();
    await expect(get(tlsClient(port, undefined, ca.root))).rejects.toThrow();
    await expect(get(tlsClient(port, await foreign.credentials(orders), ca.root))).rejects.toThrow();
    expect(connections).toEqual([]);
  });

  it('closes a TLS hello when it has no terminator, and still serves plaintext', async () => {
    const { port } = await startFront({ tls: false });
    await expect(get(tlsClient(port, await ca.credentials(orders), ca.root))).rejects.toThrow();
    expect((await get(plainClient(port))).status).toBe(200);
  });

  it('drops a connection that says nothing within the first-byte timeout', async () => {
    const { port } = await startFront({ firstByteTimeoutMs: 100 });
    const silent = connectTcp(port, '127.0.0.1');
    await once(silent, 'connect');
    const started = performance.now();
    await once(silent, 'close');
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
