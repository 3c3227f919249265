import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  CONTROL_PATHS,
  type Endpoint,
  PLAINTEXT_MESH,
  type RoutingTable,
  serviceRoutesOf,
} from '@flotilla/spec';
import { MESH_REQUEST_CHANNEL, type MeshRequestMessage } from './diagnostics.ts';

/** Real servers on 127.0.0.1 port 0 for the mesh's tests: upstream instances and a control plane's watch stream. */

/** A running upstream instance. */
export interface TestUpstream {
  readonly port: number;
  /** Requests received. */
  hits: number;
  /** Server-side sockets currently open. */
  readonly sockets: ReadonlySet<Socket>;
  /** This instance as a routing-table endpoint. */
  endpoint(service: string, version: string): Endpoint;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Answers with JSON naming the instance and echoing the request. */
function echo(id: string): Handler {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id, method: req.method, url: req.url, body }));
    });
  };
}

/** Starts an upstream instance; by default it answers with `{ id, method, url, body }`. */
export async function startUpstream(id: string, handler: Handler = echo(id)): Promise<TestUpstream> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    upstream.hits++;
    handler(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const upstream: TestUpstream = {
    port,
    hits: 0,
    sockets,
    endpoint: (service, version) => ({ id, service, version, host: '127.0.0.1', port }),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return upstream;
}

/** A port that nothing listens on: it was free a moment ago and is closed again. */
export async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Builds a routing table; `versions` maps version names to weights. */
export function tableOf(
  revision: number,
  services: Record<string, { versions: Record<string, number>; endpoints: Endpoint[] }>,
): RoutingTable {
  const routes: RoutingTable['services'] = {};
  for (const [name, { versions, endpoints }] of Object.entries(services)) {
    const weighted: RoutingTable['services'][string]['versions'] = {};
    for (const [version, weight] of Object.entries(versions)) weighted[version] = { weight, labels: {} };
    routes[name] = serviceRoutesOf({ versions: weighted, endpoints });
  }
  return {
    revision,
    system: 'test',
    services: routes,
    gateway: { listen: { host: '127.0.0.1', port: 0 }, replicas: 1, plugins: {}, routes: [] },
    mesh: PLAINTEXT_MESH,
  };
}

/** A stand-in for the control plane's watch endpoint. */
export interface TestWatchServer {
  /** Base URL, as a client's controlUrl. */
  readonly url: string;
  /** Headers of every watch request received. */
  readonly requests: IncomingHttpHeaders[];
  /**
   * Bodies of `POST /v1/outliers` received, oldest first, with their bearer token; each is
   * answered 204. The control plane's own handler of that path is tested in the control plane.
   */
  readonly outlierReports: { token: string | undefined; body: unknown }[];
  /** Status of the next watch responses; anything but 200 ends the response at once. */
  status: number;
  /** Sends a table to every open stream and to every later connection. */
  publish(table: RoutingTable): void;
  /** Sends raw text to every open stream. */
  write(text: string): void;
  /** Open streams. */
  readonly streams: number;
  /** Like a `kill -9` of the control plane: connections cut, port closed. */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
}

/** Starts a watch server that accepts `token`. */
export async function startWatchServer(token: string): Promise<TestWatchServer> {
  const open = new Set<ServerResponse>();
  const requests: IncomingHttpHeaders[] = [];
  const outlierReports: TestWatchServer['outlierReports'] = [];
  let current: RoutingTable | undefined;
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === CONTROL_PATHS.outliers) {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const token = req.headers.authorization?.replace(/^Bearer /, '');
        outlierReports.push({ token, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        res.writeHead(204).end();
      });
      return;
    }
    if (req.url !== CONTROL_PATHS.watch) {
      res.writeHead(404).end();
      return;
    }
    requests.push(req.headers);
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401).end();
      return;
    }
    if (watch.status !== 200) {
      res.writeHead(watch.status).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    open.add(res);
    res.on('close', () => open.delete(res));
    if (current !== undefined) res.write(event(current));
    else res.write(': ping\n\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const event = (table: RoutingTable) =>
    `event: table\nid: ${table.revision}\ndata: ${JSON.stringify(table)}\n\n`;
  const watch: TestWatchServer = {
    url: `http://127.0.0.1:${port}`,
    requests,
    outlierReports,
    status: 200,
    publish(table) {
      current = table;
      for (const res of open) res.write(event(table));
    },
    write(text) {
      for (const res of open) res.write(text);
    },
    get streams() {
      return open.size;
    },
    async kill() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
    async restart() {
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
  };
  return watch;
}

/** Resolves once `check` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The error `promise` rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

/**
 * Collects the messages published on MESH_REQUEST_CHANNEL from now on; `onCleanup` gets the
 * function that stops collecting (a test file's list of cleanups).
 */
export function meshMessages(onCleanup: (stop: () => Promise<void>) => void): MeshRequestMessage[] {
  const messages: MeshRequestMessage[] = [];
  const listener = (message: unknown) => messages.push(message as MeshRequestMessage);
  diagnosticsChannel.subscribe(MESH_REQUEST_CHANNEL, listener);
  onCleanup(async () => {
    diagnosticsChannel.unsubscribe(MESH_REQUEST_CHANNEL, listener);
  });
  return messages;
}
