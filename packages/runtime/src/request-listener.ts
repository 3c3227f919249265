import type { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { CallScope } from '@flotilla/mesh';
import { HEADERS } from '@flotilla/spec';
import type { Logger } from 'pino';
import { hasBody, readJsonBody } from './body.ts';
import { Context, type Handler } from './context.ts';
import { databaseFailure } from './database-failure.ts';
import { HttpError } from './errors.ts';
import type { InboundGuard } from './inbound-guard.ts';
import type { MeshMetrics } from './mesh-metrics.ts';
import type { Counter, Histogram } from './metrics/index.ts';
import { Reply } from './reply.ts';
import type { Router } from './router.ts';
import { type StandardSchema, validate } from './validation.ts';

/** A registered route: its handler and the schemas its input must pass. */
export interface RouteEntry {
  handler: Handler<Record<string, string>, unknown, unknown>;
  body: StandardSchema | undefined;
  query: StandardSchema | undefined;
  /**
   * Probes and scrapes: their access lines go out at debug, not info, the mesh's guard lets them
   * through and Istio's metrics do not count them.
   */
  quiet: boolean;
}

type RequestLabels = 'method' | 'route' | 'code';

/** What the request listener needs from the service. */
export interface ListenerDeps {
  router: Router<RouteEntry>;
  log: Logger;
  requests: Counter<RequestLabels>;
  durations: Histogram<RequestLabels>;
  bodyLimitBytes: number;
  /** Requests being handled, for shutdown to wait for and to report when it has to cut them. */
  inflight: Set<Context>;
  /** True once shutdown has begun: responses then close their connection. */
  stopping(): boolean;
  /** Called after every response, finished or cut. */
  onDone(): void;
  /** The mesh's door: mutual TLS required or not, and the service's authorization policy. */
  guard: InboundGuard;
  meshMetrics: MeshMetrics;
  /**
   * Where a handler's mesh client finds the request it serves; undefined when the service has no
   * mesh, which then pays nothing for it.
   */
  scopes: AsyncLocalStorage<CallScope> | undefined;
  /** This instance's version while the table asks for version affinity. */
  affinity(): string | undefined;
}

const INTERNAL_BODY = HttpError.of('INTERNAL').toBody();

/** The node:http request listener: route, read and check input, run the handler, answer, record. */
export function createRequestListener(
  deps: ListenerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { router, log, requests, durations, inflight, guard, meshMetrics, scopes, affinity } = deps;

  const finish = (ctx: Context, route: string, quiet: boolean) => {
    inflight.delete(ctx);
    const { req, res } = ctx;
    const ms = performance.now() - ctx.startedAt;
    const seconds = ms / 1000;
    // Code 0 marks a response that never completed (the client left, or shutdown cut it), as Envoy does.
    const code = res.writableFinished ? res.statusCode : 0;
    ctx.scope.end(res.writableFinished);
    const labels = { method: req.method ?? '', route, code };
    requests.inc(labels);
    durations.observe(labels, seconds);
    if (!quiet) meshMetrics.inbound(ctx, code, ms);
    // Path only: a query string may carry tokens.
    log[quiet ? 'debug' : 'info'](
      {
        method: req.method,
        path: ctx.path,
        status: code,
        duration_ms: Math.round(seconds * 10_000) / 10,
        request_id: ctx.requestId,
        trace_id: ctx.traceId,
      },
      'request',
    );
    deps.onDone();
  };

  const send = (ctx: Context, status: number, body: unknown, headers: Record<string, string>) => {
    const { req, res } = ctx;
    const payload = status === 204 || status === 304 || body === undefined ? undefined : JSON.stringify(body);
    res.statusCode = status;
    for (const name in headers) res.setHeader(name, headers[name]!);
    if (payload !== undefined) {
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('content-length', Buffer.byteLength(payload));
    }
    // Node would read and discard an unread body to keep the connection; closing it instead
    // bounds what a client can make us read after a refusal.
    if (deps.stopping() || (hasBody(req) && !req.complete)) res.setHeader('connection', 'close');
    res.end(payload);
  };

  const fail = (ctx: Context, err: unknown) => {
    const { req, res } = ctx;
    if (req.destroyed && !req.complete) {
      ctx.log.debug({ err }, 'client went away before the request was read');
      return;
    }
    if (ctx.scope.cut) {
      ctx.log.debug({ err }, 'the caller went away before the response');
      return;
    }
    if (res.headersSent) {
      ctx.log.error({ err }, 'request failed after the response started');
      res.destroy();
      return;
    }
    // A handler that followed ctx.signal fails with whatever its query or call threw on abort.
    const deadline = !(err instanceof HttpError) && ctx.scope.deadlinePassed;
    const known =
      err instanceof HttpError
        ? err
        : deadline
          ? HttpError.of('DEADLINE_EXCEEDED', { cause: err })
          : databaseFailure(err);
    if (deadline) ctx.log.warn({ err }, "the caller's deadline passed before the response");
    else if (!known || known.status >= 500) ctx.log.error({ err }, 'request failed');
    try {
      send(ctx, known?.status ?? 500, known ? known.toBody() : INTERNAL_BODY, known?.headers ?? {});
    } catch (sendErr) {
      // Details that do not serialise (a BigInt, a cycle) must not take the process down.
      ctx.log.error({ err: sendErr }, 'error response could not be sent');
      res.destroy();
    }
  };

  const run = async (ctx: Context, entry: RouteEntry) => {
    ctx.body = await readJsonBody(ctx.req, deps.bodyLimitBytes);
    if (entry.body) ctx.body = await validate(entry.body, ctx.body, 'body');
    if (entry.query) ctx.query = await validate(entry.query, ctx.queryObject(), 'query');
    const result = await entry.handler(ctx);
    if (ctx.res.headersSent || ctx.res.writableEnded) return;
    if (result instanceof Reply) send(ctx, result.status, result.body, result.headers);
    else if (result === undefined) send(ctx, 204, undefined, {});
    else send(ctx, 200, result, {});
  };

  return (req, res) => {
    const ctx = new Context(req, res, log, performance.now(), affinity);
    ctx.trustsPlaintext = guard.mode === 'disable';
    res.setHeader(HEADERS.requestId, ctx.requestId);
    inflight.add(ctx);
    const found = router.find(req.method ?? 'GET', ctx.path);
    const quiet = found.kind === 'found' && found.value.quiet;
    res.once('close', () => finish(ctx, found.kind === 'found' ? found.pattern : 'unmatched', quiet));
    // Refused before routing, so that a refused caller learns nothing of which paths exist.
    const refusal = quiet ? undefined : guard.check(ctx);
    if (refusal !== undefined) {
      fail(ctx, refusal);
      return;
    }
    if (found.kind !== 'found') {
      fail(
        ctx,
        found.kind === 'not-found'
          ? HttpError.of('NOT_FOUND')
          : HttpError.of('METHOD_NOT_ALLOWED', { headers: { allow: found.allowed.join(', ') } }),
      );
      return;
    }
    ctx.params = found.params;
    const running = scopes ? scopes.run(ctx.scope, run, ctx, found.value) : run(ctx, found.value);
    running.catch((err: unknown) => fail(ctx, err));
  };
}
