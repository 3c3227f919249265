import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SystemStatus } from '@flotilla/control-plane/types';

/** A request the fake admin API received. */
export interface RecordedRequest {
  method: string;
  url: string;
  body: unknown;
}

/** Answers one authorised request; the fake has already checked the bearer token. */
export type FakeHandler = (request: RecordedRequest, res: ServerResponse) => void;

/** A fake admin API and a temp directory laid out as `flotilla up` leaves it. */
export interface FakeAdmin {
  /** Directory holding flotilla.yaml's place and `.flotilla/`; run the CLI from here. */
  dir: string;
  url: string;
  token: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * Stands in for the control plane's admin API, which another part of Flotilla implements: the CLI
 * is tested against the contract (bearer token, paths, `{"error":{code,message}}` bodies) on a real
 * HTTP server on 127.0.0.1, with state.json and admin-token written where a real run puts them.
 */
export async function startFakeAdmin(
  handle: FakeHandler,
  options: { pid?: number } = {},
): Promise<FakeAdmin> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-cli-'));
  const token = 'test-admin-token';
  const requests: RecordedRequest[] = [];
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    if (req.headers.authorization !== `Bearer ${token}`) {
      sendJson(res, 401, { error: { code: 'UNAUTHORIZED', message: 'missing or wrong admin token' } });
      return;
    }
    const request = {
      method: req.method ?? '',
      url: req.url ?? '',
      body: text ? JSON.parse(text) : undefined,
    };
    requests.push(request);
    handle(request, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stateDir = join(dir, '.flotilla');
  mkdirSync(stateDir);
  writeFileSync(join(stateDir, 'admin-token'), `${token}\n`, { mode: 0o600 });
  writeFileSync(
    join(stateDir, 'state.json'),
    JSON.stringify({
      pid: options.pid ?? process.pid,
      adminUrl: url,
      gatewayUrl: 'http://127.0.0.1:18080',
      specFile: join(dir, 'flotilla.yaml'),
      startedAt: new Date().toISOString(),
    }),
  );
  return {
    dir,
    url,
    token,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** A SystemStatus with one service of two instances, started `agoMs` before now. */
export function sampleStatus(agoMs = 130_000): SystemStatus {
  const startedAt = new Date(Date.now() - agoMs).toISOString();
  return {
    system: 'shop',
    specFile: '/srv/shop/flotilla.yaml',
    startedAt,
    revision: 7,
    controlPlane: { url: 'http://127.0.0.1:7070', pid: 4242 },
    gateway: { url: 'http://127.0.0.1:8080' },
    postgres: { mode: 'none', host: null, port: null },
    mail: { mode: 'sink', address: '127.0.0.1:2525' },
    bus: { kind: 'postgres', address: '127.0.0.1:5432' },
    services: [
      {
        name: 'orders',
        kind: 'service',
        versions: [{ name: 'v1', weight: 100, replicas: 2 }],
        instances: [
          {
            id: 'orders-v1-1',
            service: 'orders',
            version: 'v1',
            pid: 5001,
            port: 40001,
            state: 'ready',
            restarts: 0,
            startedAt,
            readySince: startedAt,
            lastExit: null,
            nextRestartAt: null,
            ejected: null,
          },
          {
            id: 'orders-v1-2',
            service: 'orders',
            version: 'v1',
            pid: null,
            port: 40002,
            state: 'crashloop',
            restarts: 3,
            startedAt: null,
            readySince: null,
            lastExit: { code: 1, signal: null, at: startedAt, reason: 'exited with code 1' },
            nextRestartAt: startedAt,
            ejected: null,
          },
        ],
      },
    ],
  };
}
