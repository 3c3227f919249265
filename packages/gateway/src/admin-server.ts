import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { METRICS_CONTENT_TYPE, type Registry } from '@flotilla/runtime';

/**
 * The gateway's own listener for the control plane: `/healthz` (the process answers), `/readyz`
 * (it can take traffic; otherwise a 503 that says why) and `/metrics` (Prometheus text).
 * Kept apart from the public port so that probes and scrapes never queue behind client traffic,
 * and clients never see them. `notReady` lists what keeps the gateway from being ready.
 */
export function createAdminServer(registry: Registry, notReady: () => string[]): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url?.split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      answer(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
    } else if (path === '/healthz') {
      answer(res, 200, 'text/plain', 'ok\n');
    } else if (path === '/readyz') {
      const why = notReady();
      if (why.length === 0) answer(res, 200, 'text/plain', 'ready\n');
      else answer(res, 503, 'text/plain', `not ready: ${why.join('; ')}\n`);
    } else if (path === '/metrics') {
      answer(res, 200, METRICS_CONTENT_TYPE, registry.expose());
    } else {
      answer(res, 404, 'text/plain', 'not found\n');
    }
  });
}

function answer(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
