import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { TokenHolder } from '../types.ts';
import { type ApiTokens, type Caller, identifyCaller } from './auth.ts';
import type { ApiBackend, WatchHandler } from './backend.ts';
import { ApiError, ApiListenError } from './errors.ts';
import { type ApiLimits, matchPath, ROUTES, type RouteAccess } from './routes.ts';
import { sendError } from './send.ts';

/** Options of the control plane's HTTP API. */
export interface ApiServerOptions {
  /** A loopback address; anything else is refused, since the API controls every process of the system. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  adminToken: string;
  dataPlaneToken: string;
  /** Who holds an instance token: the running processes, each with its own. @default no one */
  instanceTokens?: { holder(token: string): TokenHolder | undefined };
  backend: ApiBackend;
  watch: WatchHandler;
  limits: ApiLimits;
  /** How long in-flight requests get to finish when the server closes. */
  closeGraceMs: number;
  log: Logger;
}

/** A listening API server. */
export interface ApiServer {
  url: string;
  port: number;
  /** Ends streaming responses, lets in-flight requests finish (up to the grace) and stops listening. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Starts the admin and data-plane API on a loopback address. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { host, log } = options;
  if (!LOOPBACK.has(host)) {
    throw new ApiListenError(
      'FLOTILLA_API_HOST',
      `the control plane listens on loopback only (127.0.0.1 or ::1), not "${host}"; fix controlPlane.host in the spec`,
    );
  }
  const tokens: ApiTokens = {
    admin: options.adminToken,
    dataPlane: options.dataPlaneToken,
    instance: (token) => options.instanceTokens?.holder(token),
  };
  const streams = new Set<() => void>();

  const dispatch = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://control-plane');
    const matches = ROUTES.flatMap((route) => {
      const params = matchPath(route.path, url.pathname);
      return params ? [{ route, params }] : [];
    });
    const found = matches.find((m) => m.route.method === req.method);
    const caller = identifyCaller(req.headers.authorization, tokens);
    if (caller.kind === 'anonymous') {
      throw new ApiError('UNAUTHORIZED', { headers: { 'www-authenticate': 'Bearer realm="flotilla"' } });
    }
    // Before 404 and 405, so that a token learns nothing about paths it may not use.
    checkAccess((found ?? matches[0])?.route.access ?? 'admin', caller);
    if (matches.length === 0) {
      throw new ApiError('NOT_FOUND', { message: `No such path: ${url.pathname}` });
    }
    if (!found) {
      throw new ApiError('METHOD_NOT_ALLOWED', {
        headers: { allow: [...new Set(matches.map((m) => m.route.method))].join(', ') },
      });
    }
    await found.route.handle({
      req,
      res,
      params: found.params,
      query: url.searchParams,
      backend: options.backend,
      watch: options.watch,
      limits: options.limits,
      holder: caller.kind === 'instance' ? caller.holder : undefined,
      track(end) {
        streams.add(end);
        res.on('close', () => streams.delete(end));
      },
    });
  };

  const server = createServer((req, res) => {
    dispatch(req, res).catch((error: unknown) => {
      if (!(error instanceof ApiError) || error.status >= 500) {
        log.error({ err: error, method: req.method, url: req.url }, 'admin API request failed');
      }
      sendError(res, error);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') {
        const why = error.code === 'EADDRINUSE' ? 'is in use' : 'needs privileges';
        reject(
          new ApiListenError(
            'FLOTILLA_PORT_IN_USE',
            `port ${options.port} on ${host} ${why}; set controlPlane.port in the spec to another port (0 picks a free one)`,
            { cause: error },
          ),
        );
      } else {
        reject(error);
      }
    });
    server.listen({ host, port: options.port, exclusive: true }, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url,
    port,
    async close() {
      for (const end of streams) end();
      streams.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), options.closeGraceMs);
      await closed;
      clearTimeout(grace);
    },
  };
}

/** Refuses a caller whose token the route does not take, saying which token it does take. */
function checkAccess(access: RouteAccess, caller: Exclude<Caller, { kind: 'anonymous' }>): void {
  if (access === 'instance') {
    if (caller.kind !== 'instance') {
      throw new ApiError('FORBIDDEN', {
        message:
          "POST /v1/certificate and /v1/outliers take the calling process's own token (FLOTILLA_INSTANCE_TOKEN in its environment), which says who it is.",
      });
    }
    return;
  }
  if (caller.kind === 'instance') {
    throw new ApiError('FORBIDDEN', {
      message:
        'An instance token only grants POST /v1/certificate and /v1/outliers; the watch stream takes the data-plane token, the rest the admin token.',
    });
  }
  if (caller.kind === 'data-plane' && access !== 'data-plane') throw new ApiError('FORBIDDEN');
}
