import type { IncomingMessage, ServerResponse } from 'node:http';
import { CONTROL_PATHS } from '@flotilla/spec';
import type { ServiceStatus } from '../types.ts';
import type { ApiBackend, WatchHandler } from './backend.ts';
import { type DeadLetterLimits, getDeadLetters, postDeadLetterReplay } from './dead-letters.ts';
import { ApiError } from './errors.ts';
import { type LogLimits, streamLogs } from './logs.ts';
import { getMail, listMail, type MailListLimits } from './mail.ts';
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
  /** Registers how to end a long-lived response when the server closes. */
  track(end: () => void): void;
}

/** One endpoint of the API. `dataPlane` routes also accept the data-plane token. */
export interface Route {
  method: 'GET' | 'POST';
  path: string;
  dataPlane: boolean;
  handle(context: RouteContext): void | Promise<void>;
}

/** Every endpoint of the control plane's API. */
export const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    path: CONTROL_PATHS.watch,
    dataPlane: true,
    handle: ({ req, res, watch }) => watch.handle(req, res),
  },
  {
    method: 'GET',
    path: CONTROL_PATHS.table,
    dataPlane: true,
    handle: ({ res, backend }) => sendJson(res, 200, backend.table()),
  },
  {
    method: 'GET',
    path: CONTROL_PATHS.status,
    dataPlane: false,
    handle: ({ res, backend }) => sendJson(res, 200, backend.status()),
  },
  {
    method: 'POST',
    path: CONTROL_PATHS.scale,
    dataPlane: false,
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
    dataPlane: false,
    handle({ res, params, query, backend, limits, track }) {
      const target = findService(backend, params.service!);
      track(streamLogs(res, { logs: backend.logs, workload: target.name, query, limits }));
    },
  },
  {
    method: 'GET',
    path: CONTROL_PATHS.mail,
    dataPlane: false,
    handle: ({ res, query, backend, limits }) => sendJson(res, 200, listMail(backend.mail, query, limits)),
  },
  {
    method: 'GET',
    path: CONTROL_PATHS.mailMessage,
    dataPlane: false,
    handle: ({ res, params, backend }) => sendJson(res, 200, getMail(backend.mail, params.id!)),
  },
  {
    method: 'GET',
    path: CONTROL_PATHS.deadLetters,
    dataPlane: false,
    handle: async ({ res, query, backend, limits }) =>
      sendJson(res, 200, await getDeadLetters(backend.deadLetters(), query, limits)),
  },
  {
    method: 'POST',
    path: CONTROL_PATHS.deadLettersReplay,
    dataPlane: false,
    async handle({ req, res, backend, limits }) {
      const body = await readJsonBody(req, limits.bodyBytes);
      sendJson(res, 200, await postDeadLetterReplay(backend.deadLetters(), body));
    },
  },
  {
    method: 'POST',
    path: CONTROL_PATHS.shutdown,
    dataPlane: false,
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
