import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MeshClient } from '@flotilla/mesh';
import type { Logger } from '@flotilla/runtime';
import type { GatewaySpec, RoutingTable } from '@flotilla/spec';
import { createAccessLog } from './access-log.ts';
import { GatewayError } from './errors.ts';
import { Exchange, type ExchangeEnv } from './exchange.ts';
import { createFetchJson } from './fetch-json.ts';
import { Generation } from './generation.ts';
import { malformedRequest } from './malformed-request.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { PluginDeps } from './plugin.ts';
import type { PluginRegistry } from './plugin-chain.ts';
import { plugins as builtInPlugins } from './plugins/index.ts';
import { hasDotSegment, hostOf } from './router.ts';

/** What createGateway needs. */
export interface GatewayOptions {
  /** Upstream calls go through it; it also fetches `http://<service>/...` URLs for plugins. */
  mesh: MeshClient;
  /** Access log lines (info) and gateway faults (error). */
  log: Logger;
  metrics: GatewayMetrics;
  /** Plugin factories in run order. @default the built-in plugins */
  plugins?: PluginRegistry;
}

/** The gateway's data path, without a listener: `main.ts` serves it, tests run it in-process. */
export interface Gateway {
  /** The request listener for `node:http`. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Applies a routing table; routes and plugins are rebuilt only when its routes or plugins changed. */
  update(table: RoutingTable): void;
  /** From now on every response closes its connection (`Connection: close`): the process is stopping. */
  drain(): void;
  /** Revision of the table in use; undefined until the first one. */
  revision(): number | undefined;
  /** Why the plugins of the routes in use cannot handle requests yet; empty when they can. */
  notReady(): string[];
  /** Closes every plugin once the requests in flight are done. */
  close(): Promise<void>;
}

const NO_GATEWAY: GatewaySpec = {
  listen: { host: '127.0.0.1', port: 0 },
  replicas: 1,
  plugins: {},
  routes: [],
};

/** Creates the gateway: matches routes, runs plugins and proxies through the mesh, streaming. */
export function createGateway(options: GatewayOptions): Gateway {
  const { mesh, log, metrics } = options;
  const registry = options.plugins ?? builtInPlugins;
  const deps: PluginDeps = { fetchJson: createFetchJson(mesh), log, now: Date.now };
  const accessLog = createAccessLog(log);
  const env: ExchangeEnv = {
    mesh,
    log,
    draining: false,
    finished(record) {
      accessLog(record);
      metrics.record(record);
    },
  };
  let current = new Generation(NO_GATEWAY, '', registry, deps);
  let revision: number | undefined;
  const retiring = new Set<Promise<void>>();

  const retire = (generation: Generation): void => {
    const closed = generation.retire();
    retiring.add(closed);
    void closed.then(() => retiring.delete(closed));
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const generation = current;
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const malformed = malformedRequest(req);
    if (malformed !== undefined) {
      // Where a request's framing is in doubt, so is that of whatever follows it on the connection.
      const error = new GatewayError('BAD_REQUEST', { message: malformed, headers: { connection: 'close' } });
      new Exchange(env, generation, req, res, path, undefined, generation.fallback).run(error);
      return;
    }
    if (revision === undefined) {
      const error = new GatewayError('UPSTREAM_UNAVAILABLE', {
        message: 'The gateway has no routes yet; retry shortly.',
      });
      new Exchange(env, generation, req, res, path, undefined, generation.fallback).run(error);
      return;
    }
    if (url.charCodeAt(0) !== 47 /* / */ || hasDotSegment(path)) {
      const error = new GatewayError('BAD_REQUEST', {
        message: 'The request path must be absolute and normalized.',
      });
      new Exchange(env, generation, req, res, path, undefined, generation.fallback).run(error);
      return;
    }
    const host = hostOf(req.headers.host);
    const method = req.method ?? 'GET';
    const route = generation.router.find(host, path, method);
    if (route !== undefined) {
      new Exchange(env, generation, req, res, path, route, route.chain).run();
      return;
    }
    const nearest = generation.router.nearest(host, path);
    if (nearest === undefined) {
      const error = new GatewayError('ROUTE_NOT_FOUND');
      new Exchange(env, generation, req, res, path, undefined, generation.fallback).run(error);
      return;
    }
    // A CORS preflight is an OPTIONS request to a route that may not list OPTIONS: its plugins may answer it.
    const chain = method === 'OPTIONS' ? nearest.value.chain : generation.fallback;
    new Exchange(env, generation, req, res, path, nearest.value, chain).run(
      new GatewayError('METHOD_NOT_ALLOWED', { headers: { allow: nearest.allow } }),
    );
  };

  return {
    handler,
    update(table) {
      // Listener and replica settings do not change what a request meets; plugins and routes do.
      const key = JSON.stringify([table.gateway.plugins, table.gateway.routes]);
      if (key !== current.key) {
        let next: Generation;
        try {
          next = new Generation(table.gateway, key, registry, deps);
        } catch (err) {
          log.error(
            { err, revision: table.revision },
            'the gateway spec of this routing table cannot be used; the previous routes stay in use',
          );
          return;
        }
        retire(current);
        current = next;
      }
      revision = table.revision;
    },
    drain() {
      env.draining = true;
    },
    revision: () => revision,
    notReady: () => current.notReady(),
    async close() {
      retire(current);
      await Promise.all(retiring);
    },
  };
}
