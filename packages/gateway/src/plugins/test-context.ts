import { once } from 'node:events';
import { IncomingMessage } from 'node:http';
import { type AddressInfo, createServer, Socket } from 'node:net';
import type { RouteSpec } from '@flotilla/spec';
import type { Redis } from 'ioredis';
import type { GatewayContext, Plugin, PluginDeps, PluginReply } from '../plugin.ts';

/** The request a test context stands for. Header names may be given in any case. */
export interface TestRequest {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  clientIp?: string;
  route?: Partial<RouteSpec>;
}

/** Builds the GatewayContext the core would build for `request`, for testing plugins without a server. */
export function createTestContext(request: TestRequest = {}): GatewayContext {
  const req = new IncomingMessage(new Socket());
  req.method = request.method ?? 'GET';
  req.url = request.url ?? '/';
  req.headers = Object.fromEntries(
    Object.entries(request.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
  );
  return {
    req,
    route: {
      match: { pathPrefix: '/' },
      service: 'orders',
      stripPrefix: false,
      timeoutMs: 1_000,
      plugins: {},
      ...request.route,
    },
    url: req.url,
    clientIp: request.clientIp ?? '127.0.0.1',
    requestId: '',
    subject: undefined,
    roles: [],
    upstreamHeaders: { ...req.headers } as Record<string, string>,
    responseHeaders: {},
    maxBodyBytes: undefined,
  };
}

/** One line a plugin logged. */
export interface LogEntry {
  level: 'warn' | 'info';
  obj: object;
  msg: string;
}

/** Plugin deps with a recorded log, a manual clock and a real HTTP `fetchJson`. */
export interface TestDeps extends PluginDeps {
  readonly logs: LogEntry[];
  /** Moves the clock forward. */
  advance(ms: number): void;
}

/** Creates deps whose clock starts at `startMs` and only moves when a test advances it. */
export function createTestDeps(startMs = Date.UTC(2030, 0, 1)): TestDeps {
  let nowMs = startMs;
  const logs: LogEntry[] = [];
  return {
    logs,
    advance(ms) {
      nowMs += ms;
    },
    now: () => nowMs,
    log: {
      warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
      info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
    },
    async fetchJson(url, timeoutMs) {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
      return res.json();
    },
  };
}

/** Runs a plugin's onRequest as the core does, turning a synchronous throw into a rejection. */
export async function runRequest(plugin: Plugin, ctx: GatewayContext): Promise<PluginReply | undefined> {
  return (await plugin.onRequest?.(ctx)) ?? undefined;
}

/** Whether Redis answers at 127.0.0.1:6379; says so on the console when it does not, since tests then skip. */
export async function redisReachable(): Promise<boolean> {
  const up = await new Promise<boolean>((resolve) => {
    const socket = new Socket().setTimeout(500);
    socket.once('connect', () => resolve(true)).once('error', () => resolve(false));
    socket.once('timeout', () => resolve(false));
    socket.connect(6379, '127.0.0.1');
  });
  if (!up) console.warn('Redis at 127.0.0.1:6379 is unreachable: skipping the tests that need it');
  return up;
}

/** A loopback port nothing listens on (it was free a moment ago), for testing a server that is down. */
export async function unusedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** Every key matching `pattern`, found with SCAN so that the shared Redis is never blocked. */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}
