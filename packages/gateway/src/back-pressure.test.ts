import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { routeSpec, tableOf, testServers } from './test-harness.ts';

const servers = testServers();

describe('back-pressure', () => {
  const TOTAL = 64 * 1024 * 1024;
  const CHUNK = Buffer.alloc(1024 * 1024, 3);
  /** What loopback socket buffers and stream high-water marks may hold on two hops, with room to spare. */
  const IN_FLIGHT_LIMIT = TOTAL / 2;

  it('holds back the upstream while the client does not read the response', async () => {
    let written = 0;
    const orders = await servers.upstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': TOTAL });
      const pump = (): void => {
        while (written < TOTAL) {
          written += CHUNK.length;
          if (!res.write(CHUNK)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const gw = await servers.gateway(
      tableOf(1, { routes: [routeSpec({ service: 'orders' })] }, { orders: [orders.port] }),
    );
    const res = await request(`${gw.url}/big`);
    await sleep(500);
    const writtenWhilePaused = written;
    let received = 0;
    for await (const chunk of res.body) received += (chunk as Buffer).length;
    expect(writtenWhilePaused).toBeLessThan(IN_FLIGHT_LIMIT);
    expect(received).toBe(TOTAL);
  });

  it('holds back the client while the upstream does not read the request body', async () => {
    // Not the recording upstream: its recorder would read the body at once.
    const slowReader = createServer((req, res) => {
      setTimeout(() => {
        let bytes = 0;
        req.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        req.on('end', () => res.end(String(bytes)));
      }, 500);
    });
    await new Promise<void>((resolve) => slowReader.listen(0, '127.0.0.1', resolve));
    servers.defer(async () => {
      slowReader.closeAllConnections();
      slowReader.close();
    });
    const port = (slowReader.address() as AddressInfo).port;
    const gw = await servers.gateway(
      tableOf(1, { routes: [routeSpec({ service: 'orders' })] }, { orders: [port] }),
    );
    let sent = 0;
    let sentWhenUpstreamRead = -1;
    const answer = new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/upload`, { method: 'POST', agent: false });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk;
        });
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      const pump = (): void => {
        while (sent < TOTAL) {
          sent += CHUNK.length;
          if (!req.write(CHUNK)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    await sleep(400);
    sentWhenUpstreamRead = sent;
    expect(await answer).toBe(String(TOTAL));
    expect(sentWhenUpstreamRead).toBeLessThan(IN_FLIGHT_LIMIT);
  });
});
