import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMeshClient, type MeshClient } from '@flotilla/mesh';
import { createLogger, Registry } from '@flotilla/runtime';
import {
  DEFAULTS,
  type GatewaySpec,
  PLAINTEXT_MESH,
  type RouteSpec,
  type RoutingTable,
  readInstanceEnv,
  serviceRoutesOf,
} from '@flotilla/spec';
import { request } from 'undici';
import { afterEach } from 'vitest';
import type { AccessRecord } from './access-log.ts';
import { createEdgeServer } from './edge-server.ts';
import { createGateway, type Gateway } from './gateway.ts';
import { GatewayMetrics } from './metrics.ts';
import type { PluginRegistry } from './plugin-chain.ts';

/** A request as the test upstream received it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  bodyBytes: number;
  /** Whether the whole body arrived. */
  complete: boolean;
  /** Whether the connection went away before the upstream answered. */
  aborted: boolean;
}

/** A real HTTP server standing for a service; it records what it got. */
export interface TestUpstream {
  readonly port: number;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

/** What a test upstream does once a request arrived; the default reads the body and answers JSON. */
export type Respond = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void;

const answerJson: Respond = (req, res) => {
  req.resume();
  req.on('end', () => {
    const body = JSON.stringify({ url: req.url });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
};

/** Starts a recording upstream on 127.0.0.1, port 0. */
export async function startUpstream(respond: Respond = answerJson): Promise<TestUpstream> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const entry: SeenRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      bodyBytes: 0,
      complete: false,
      aborted: false,
    };
    seen.push(entry);
    req.on('data', (chunk: Buffer) => {
      entry.bodyBytes += chunk.length;
    });
    req.on('end', () => {
      entry.complete = true;
    });
    res.on('close', () => {
      if (!res.writableFinished) entry.aborted = true;
    });
    respond(req, res, entry);
  });
  const port = await listenLocal(server);
  return { port, seen, close: () => closeServer(server) };
}

/** A full route spec from the parts a test cares about. */
export function routeSpec(route: Partial<RouteSpec> & { service: string }): RouteSpec {
  return {
    match: { pathPrefix: '/' },
    stripPrefix: DEFAULTS.gateway.route.stripPrefix,
    timeoutMs: DEFAULTS.gateway.route.timeoutMs,
    plugins: {},
    ...route,
  };
}

/** A routing table whose services have one version, `v1`, listening on the given ports. */
export function tableOf(
  revision: number,
  gateway: Partial<GatewaySpec>,
  services: Record<string, number[]>,
): RoutingTable {
  return {
    revision,
    system: 'test',
    gateway: {
      listen: { host: '127.0.0.1', port: 0 },
      replicas: 1,
      plugins: {},
      routes: [],
      ...gateway,
    },
    services: Object.fromEntries(
      Object.entries(services).map(([service, ports]) => [
        service,
        serviceRoutesOf({
          versions: { v1: { weight: 100, labels: { version: 'v1' } } },
          endpoints: ports.map((port, i) => ({
            id: `${service}-v1-${i}`,
            service,
            version: 'v1',
            host: '127.0.0.1',
            port,
          })),
        }),
      ]),
    ),
    mesh: PLAINTEXT_MESH,
  };
}

/** A gateway served on 127.0.0.1, port 0, with a static mesh, a captured access log and its metrics. */
export interface TestGateway {
  readonly url: string;
  readonly server: Server;
  readonly gateway: Gateway;
  readonly mesh: MeshClient;
  readonly registry: Registry;
  /** Access log lines, parsed. */
  readonly accessLog: (AccessRecord & { time: string; level: string; msg: string })[];
  /** Resolves once `count` access log lines were written (the record is written when the response closes). */
  logged(count: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a gateway on `table`; `plugins` replaces the built-in plugin registry. */
export async function startGateway(table: RoutingTable, plugins?: PluginRegistry): Promise<TestGateway> {
  const accessLog: TestGateway['accessLog'] = [];
  const waiters: (() => void)[] = [];
  const identity = { ...readInstanceEnv({}, 'gateway'), logLevel: 'info' };
  const log = createLogger(identity, {
    write(line: string) {
      const entry = JSON.parse(line);
      if (entry.msg === 'request') accessLog.push(entry);
      for (const wake of waiters.splice(0)) wake();
    },
  });
  const registry = new Registry();
  const mesh = createMeshClient({ source: { workload: 'gateway', version: 'v1' }, table });
  const gateway = createGateway({ mesh, log, metrics: new GatewayMetrics(registry, 'v1'), plugins });
  gateway.update(table);
  const server = createEdgeServer(gateway.handler);
  const port = await listenLocal(server);
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    gateway,
    mesh,
    registry,
    accessLog,
    async logged(count) {
      while (accessLog.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    async close() {
      server.closeAllConnections();
      await closeServer(server);
      await gateway.close();
      await mesh.close();
    },
  };
}

/** Starts test servers and closes them after each test of the file that calls it. */
export function testServers(): {
  upstream(respond?: Respond): Promise<TestUpstream>;
  gateway(table: RoutingTable, plugins?: PluginRegistry): Promise<TestGateway>;
  /** Runs `cleanup` after the current test, before the servers started earlier are closed. */
  defer(cleanup: () => Promise<void>): void;
} {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    async upstream(respond) {
      const started = await startUpstream(respond);
      cleanups.push(started.close);
      return started;
    },
    async gateway(table, plugins) {
      const started = await startGateway(table, plugins);
      cleanups.push(started.close);
      return started;
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
  };
}

/** Sends a request and reads the whole answer. */
export async function send(url: string, init: Parameters<typeof request>[1] = {}) {
  const res = await request(url, init);
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** Sends a request exactly as given (undici refuses hop-by-hop headers, URL parsing resolves dot segments). */
export function rawRequest(
  url: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const req = httpRequest({
      host: hostname,
      port,
      path: options.path,
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: false,
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A port on 127.0.0.1 where nothing listens: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listenLocal(server);
  await closeServer(server);
  return port;
}

function listenLocal(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
