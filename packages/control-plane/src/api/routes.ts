import type { IncomingMessage, ServerResponse } from 'node:http';
import { CONTROL_PATHS } from '@flotilla/spec';
import type { ServiceStatus, TokenHolder } from '../types.ts';
import type { ApiBackend, WatchHandler } from './backend.ts';
import { parseCertificateRequest } from './certificate-request.ts';
import { type DeadLetterLimits, getDeadLetters, postDeadLetterReplay } from './dead-letters.ts';
import { ApiError } from './errors.ts';
import { type LogLimits, streamLogs } from './logs.ts';
import { getMail, listMail, type MailListLimits } from './mail.ts';
import { parseOutlierReport } from './outlier-report.ts';
import { readJsonBody } from './read-json-body.ts';
import { parseScaleRequest } from './scale-request.ts';
import { sendJson } from './send.ts';

/** Limits the admin API enforces; the control plane fills them from its defaults. */
export interface ApiLimits extends LogLimits, MailListLimits, DeadLetterLimits {
  bodyBytes: number;
  maxReplicas: number;
}

/** What a route handler gets for one request. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  backend: ApiBackend;
  watch: WatchHandler;
  limits: ApiLimits;
  /** The calling process, on `instance` routes. */
  holder: TokenHolder | undefined;
  /** Registers how to end a long-lived response when the server closes. */
  track(end: () => void): void;
}

/**
 * Which token a route takes: `admin` only the admin token; `data-plane` the data-plane token or the
 * admin token; `instance` only a running process's own instance token, which names the caller.
 */
export type RouteAccess = 'admin' | 'data-plane' | 'instance';

/** One endpoint of the API. */
export interface Route {
  method: 'GET' | 'POST';
  path: string;
  access: RouteAccess;
  handle(context: RouteContext): void | Promise<void>;
}

/** Every endpoint of the control plane's API. */
export const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    path: CONTROL_PATHS.watch,
    access: 'data-plane',
    handle: ({ req, res, watch }) => watch.handle(req, res),
  },
  {
    method: 'GET',
    path: CONTROL_PATHS.table,
    access: 'data-plane',
    handle: ({ res, backend }) => sendJson(res, 200, backend.table()),
  },
  {
    method: 'GET',
    path: CONTROL_PATHS.status,
    access: 'admin',
    handle: ({ res, backend }) => sendJson(res, 200, backend.status()),
  },
  {
    method: 'POST',
    path: CONTROL_PATHS.scale,
    access: 'admin',
    async handle({ req, res, params, backend, limits }) {
      const target = findService(backend, params.service!);
      const body = await readJsonBody(req, limits.bodyBytes);
      const { replicas, version } = parseScaleRequest(body, target, limits.maxReplicas);
      sendJson(res, 200, await backend.scale(target.name, replicas, version));
    },
  },
  {
    method: 'GET',
    path: CONTROL_PATHS.logs,
    access: 'admin',
    handle({ res, params, query, backend, limits, track }) {
      const target = findService(backend, params.service!);
      track(streamLogs(res, { logs: backend.logs, workload: target.name, query, limits }));
    },
  },
  {
    method: 'GET',
    path: CONTROL_PATHS.mail,
    access: 'admin',
    handle: ({ res, query, backend, limits }) => sendJson(res, 200, listMail(backend.mail, query, limits)),
  },
  {
    method: 'GET',
    path: CONTROL_PATHS.mailMessage,
    access: 'admin',
    handle: ({ res, params, backend }) => sendJson(res, 200, getMail(backend.mail, params.id!)),
  },
  {
    method: 'GET',
    path: CONTROL_PATHS.deadLetters,
    access: 'admin',
    handle: async ({ res, query, backend, limits }) =>
      sendJson(res, 200, await getDeadLetters(backend.deadLetters(), query, limits)),
  },
  {
    method: 'POST',
    path: CONTROL_PATHS.deadLettersReplay,
    access: 'admin',
    async handle({ req, res, backend, limits }) {
      const body = await readJsonBody(req, limits.bodyBytes);
      sendJson(res, 200, await postDeadLetterReplay(backend.deadLetters(), body));
    },
  },
  {
    method: 'POST',
    path: CONTROL_PATHS.certificate,
    access: 'instance',
    async handle({ req, res, holder, backend, limits }) {
      const publicKey = parseCertificateRequest(await readJsonBody(req, limits.bodyBytes));
      sendJson(res, 200, await backend.certificate(holder!, publicKey));
    },
  },
  {
    method: 'POST',
    path: CONTROL_PATHS.outliers,
    access: 'instance',
    async handle({ req, res, holder, backend, limits }) {
      const ejected = parseOutlierReport(await readJsonBody(req, limits.bodyBytes));
      backend.reportOutliers(holder!, ejected);
      sendJson(res, 200, { reported: ejected.length });
    },
  },
  {
    method: 'POST',
    path: CONTROL_PATHS.caRotate,
    access: 'admin',
    handle: async ({ res, backend }) => sendJson(res, 200, await backend.rotateCa()),
  },
  {
    method: 'POST',
    path: CONTROL_PATHS.shutdown,
    access: 'admin',
    handle({ res, backend }) {
      res.on('finish', () => backend.shutdown());
      sendJson(res, 202, { status: 'stopping' });
    },
  },
];

/** Matches a path against a pattern with `:name` segments; the decoded parameters, or undefined. */
export function matchPath(pattern: string, pathname: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const have = pathname.split('/');
  if (want.length !== have.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const segment = want[i]!;
    if (segment.startsWith(':')) {
      try {
        params[segment.slice(1)] = decodeURIComponent(have[i]!);
      } catch {
        return undefined;
      }
      if (params[segment.slice(1)] === '') return undefined;
    } else if (segment !== have[i]) {
      return undefined;
    }
  }
  return params;
}

function findService(backend: ApiBackend, name: string): ServiceStatus {
  const services = backend.status().services;
  const found = services.find((s) => s.name === name);
  if (!found) {
    throw new ApiError('NOT_FOUND', {
      message: `Unknown service "${name}" (services: ${services.map((s) => s.name).join(', ')}).`,
    });
  }
  return found;
}
