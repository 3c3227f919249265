import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MeshClient } from '@flotilla/mesh';
import type { Logger } from '@flotilla/runtime';
import { HEADERS, type RouteSpec } from '@flotilla/spec';
import type { Dispatcher } from 'undici';
import type { AccessRecord } from './access-log.ts';
import { GATEWAY_DEFAULTS } from './defaults.ts';
import { GatewayError } from './errors.ts';
import { downstreamHeaders, upstreamHeaders } from './forward-headers.ts';
import type { CompiledRoute, Generation } from './generation.ts';
import { lingerThenEnd } from './linger.ts';
import type { GatewayContext, PluginReply } from './plugin.ts';
import { type PluginChain, runRequestHooks, runResponseHooks } from './plugin-chain.ts';
import { declaredLength, hasBody, pipeBody, type RequestBody } from './request-body.ts';
import { flagOfError, type ResponseFlag, type ResponseFlags } from './response-flags.ts';
import { upstreamFailure } from './upstream-error.ts';

/** What every exchange of a gateway shares. */
export interface ExchangeEnv {
  readonly mesh: MeshClient;
  readonly log: Logger;
  /** Set when the process drains: every response from then on closes its connection. */
  draining: boolean;
  /** Gets every finished request once: access log and metrics. */
  finished(record: AccessRecord): void;
}

/** The route a request that matched none carries in its context: plugins may read it, nothing uses it. */
const NO_ROUTE: RouteSpec = Object.freeze({
  match: Object.freeze({ pathPrefix: '/' }),
  service: '',
  stripPrefix: false,
  timeoutMs: 0,
  plugins: Object.freeze({}),
});

const CLIENT_GONE = new Error('The client closed the connection.');

/**
 * One request through the gateway: plugins, then the upstream call through the mesh, streamed both
 * ways with back-pressure, or an answer of the gateway's own. It is the mesh call's dispatch handler
 * itself, so a request costs this object and its two listeners, not a handler object per step.
 *
 * Every response, upstream answer, error or plugin reply, goes out through `#sendHead`, so that
 * the context's response headers and the plugins' onResponse hooks apply to all of them alike.
 * The response's `close` event is the one place a request ends: the record is written there,
 * whether the response finished or the client went away.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  readonly #env: ExchangeEnv;
  readonly #generation: Generation;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #route: CompiledRoute | undefined;
  readonly #chain: PluginChain;
  readonly #ctx: GatewayContext;
  readonly #path: string;
  readonly #hasBody: boolean;
  readonly #startMs = performance.now();
  #controller: Dispatcher.DispatchController | undefined;
  #body: RequestBody | undefined;
  #upstreamCalled = false;
  #upstreamDone = false;
  #clientGone = false;
  #waitingForDrain = false;
  #flag: ResponseFlags = '-';
  #errorCode: GatewayError['code'] | undefined;
  #bytesOut = 0;
  /** When the whole answer was written, if the connection then lingers (`#finish`). */
  #answeredMs: number | undefined;

  constructor(
    env: ExchangeEnv,
    generation: Generation,
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    route: CompiledRoute | undefined,
    chain: PluginChain,
  ) {
    this.#env = env;
    this.#generation = generation;
    this.#req = req;
    this.#res = res;
    this.#path = path;
    this.#route = route;
    this.#chain = chain;
    this.#hasBody = hasBody(req);
    const clientIp = req.socket.remoteAddress ?? '';
    this.#ctx = {
      req,
      route: route?.spec ?? NO_ROUTE,
      url: req.url ?? '/',
      clientIp,
      requestId: '',
      subject: undefined,
      roles: [],
      upstreamHeaders: upstreamHeaders(req.headers, clientIp, 'encrypted' in req.socket ? 'https' : 'http'),
      responseHeaders: {},
      maxBodyBytes: undefined,
    };
    generation.enter();
    res.once('close', this.#onClose);
  }

  /** Runs the plugins, then answers `answer` when given (404, 405), else calls the upstream. */
  run(answer?: GatewayError): void {
    let outcome: ReturnType<typeof runRequestHooks>;
    try {
      outcome = runRequestHooks(this.#ctx, this.#chain);
    } catch (err) {
      this.#pluginFailed(err);
      return;
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (reply) => this.#afterPlugins(reply, answer),
        (err: unknown) => this.#pluginFailed(err),
      );
    } else {
      this.#afterPlugins(outcome, answer);
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#clientGone) controller.abort(CLIENT_GONE);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.#controller = controller;
    // Informational answers (100 Continue) are the upstream connection's business, not the client's.
    if (statusCode < 200) return;
    this.#sendHead(statusCode, downstreamHeaders(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#bytesOut += chunk.length;
    if (!this.#res.write(chunk) && !this.#waitingForDrain) {
      this.#waitingForDrain = true;
      this.#controller = controller;
      controller.pause();
      this.#res.once('drain', this.#onDrain);
    }
  }

  onResponseEnd(): void {
    this.#upstreamDone = true;
    this.#finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    try {
      this.#upstreamFailed(err);
    } catch (fault) {
      // The last line of defence: a fault here must cost this request its connection, not hang it.
      this.#env.log.error(
        { err: fault, request_id: this.#ctx.requestId },
        'the gateway failed to answer an error',
      );
      this.#res.destroy();
    }
  }

  #upstreamFailed(err: unknown): void {
    this.#upstreamDone = true;
    if (this.#clientGone) return;
    if (this.#body?.tooLarge) {
      if (this.#res.headersSent) this.#res.destroy();
      else this.#sendError(new GatewayError('BODY_TOO_LARGE'));
      return;
    }
    const failure = upstreamFailure(err);
    if (this.#res.headersSent) {
      // Mid-body there is no status left to change: cutting the connection is the only honest signal.
      this.#flag = failure.flag;
      this.#res.destroy();
      return;
    }
    this.#sendError(failure.error, failure.flag);
  }

  #afterPlugins(reply: PluginReply | undefined, answer: GatewayError | undefined): void {
    if (this.#clientGone) return;
    try {
      if (reply !== undefined) this.#sendReply(reply);
      else if (answer !== undefined) this.#sendError(answer);
      else this.#callUpstream(this.#route!);
    } catch (err) {
      // A fault of the gateway itself: this request fails, the process and its other requests do not.
      this.#env.log.error({ err, request_id: this.#ctx.requestId }, 'the gateway failed to handle a request');
      if (this.#res.headersSent) this.#res.destroy();
      else this.#sendError(new GatewayError('INTERNAL', { cause: err }));
    }
  }

  #callUpstream(route: CompiledRoute): void {
    const ctx = this.#ctx;
    const headers = ctx.upstreamHeaders;
    // Plugins may have touched these; only a verified token decides them.
    delete headers[HEADERS.subject];
    delete headers[HEADERS.roles];
    if (ctx.subject !== undefined) {
      headers[HEADERS.subject] = ctx.subject;
      headers[HEADERS.roles] = ctx.roles.join(',');
    }
    let body: RequestBody | null = null;
    if (this.#hasBody) {
      const declared = declaredLength(this.#req);
      const max = ctx.maxBodyBytes;
      if (max !== undefined && declared !== undefined && declared > max) {
        this.#sendError(new GatewayError('BODY_TOO_LARGE'));
        return;
      }
      // A client that sent `Expect: 100-continue` waits for this before it sends the body: only a
      // request on its way upstream gets it, so the body of a refused one is never sent at all.
      if (this.#req.headers.expect !== undefined && this.#req.httpVersionMinor === 1)
        this.#res.writeContinue();
      // A declared length is enforced by Node's parser; only a chunked body needs counting.
      body = this.#body = pipeBody(this.#req, declared === undefined ? max : undefined);
    }
    this.#upstreamCalled = true;
    try {
      this.#env.mesh.dispatch(
        {
          service: route.spec.service,
          method: this.#req.method as Dispatcher.HttpMethod,
          path: route.upstreamPath(ctx.url),
          headers,
          body,
          // A bound: the destination's traffic rules and resilience may set a shorter deadline.
          maxTimeoutMs: route.spec.timeoutMs,
        },
        this,
      );
    } catch (err) {
      this.#upstreamFailed(err);
    }
  }

  #pluginFailed(err: unknown): void {
    if (this.#clientGone) return;
    if (err instanceof GatewayError) {
      this.#sendError(err);
      return;
    }
    this.#env.log.error({ err, request_id: this.#ctx.requestId }, 'a gateway plugin failed');
    this.#sendError(new GatewayError('INTERNAL', { cause: err }));
  }

  #sendError(error: GatewayError, flag: ResponseFlag = flagOfError(error.code)): void {
    this.#flag = flag;
    this.#errorCode = error.code;
    const body = JSON.stringify({
      error: { code: error.code, message: error.message, requestId: this.#ctx.requestId },
    });
    const headers: Record<string, string | string[]> = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    };
    for (const name in error.headers) headers[name.toLowerCase()] = error.headers[name]!;
    this.#answer(error.status, headers, body);
  }

  #sendReply(reply: PluginReply): void {
    const headers: Record<string, string | string[]> = {};
    for (const name in reply.headers) headers[name.toLowerCase()] = reply.headers[name]!;
    // 204 and 304 carry no body and, by RFC 9110, no Content-Length.
    const bodiless = reply.statusCode === 204 || reply.statusCode === 304;
    const body = bodiless ? '' : (reply.body ?? '');
    if (!bodiless) headers['content-length'] = String(Buffer.byteLength(body));
    this.#answer(reply.statusCode, headers, body);
  }

  /**
   * Sends an answer of the gateway's own. When it refuses a request whose body is still arriving,
   * it first lets the current turn of the event loop end: the part of the body that came with the
   * headers is parsed by then, so a small body that has fully arrived keeps the connection open
   * for the next request, while a body still on its way closes it (`#sendHead`).
   */
  #answer(statusCode: number, headers: Record<string, string | string[]>, body: string): void {
    if (this.#bodyStillArriving()) {
      setImmediate(() => {
        if (!this.#clientGone && this.#sendHead(statusCode, headers)) this.#end(body);
      });
      return;
    }
    if (this.#sendHead(statusCode, headers)) this.#end(body);
  }

  #bodyStillArriving(): boolean {
    return this.#hasBody && !this.#req.complete;
  }

  #end(body: string): void {
    this.#bytesOut += this.#req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
    this.#finish(body);
  }

  /** Ends the response; when the request body is still arriving, lingers rather than read it all. */
  #finish(body?: string): void {
    if (!this.#bodyStillArriving()) {
      this.#res.end(body);
      return;
    }
    if (body !== undefined) this.#res.write(body);
    this.#answeredMs = performance.now();
    if (this.#body !== undefined) this.#req.unpipe(this.#body);
    lingerThenEnd(this.#req, this.#res, GATEWAY_DEFAULTS.refusedBodyLinger);
  }

  /** Writes the status line and headers after the context's headers and the plugins' hooks. */
  #sendHead(statusCode: number, headers: Record<string, string | string[]>): boolean {
    const ctx = this.#ctx;
    for (const name in ctx.responseHeaders) headers[name.toLowerCase()] = ctx.responseHeaders[name]!;
    runResponseHooks(this.#chain, ctx, statusCode, headers, this.#env.log);
    // The client learns from this response that the connection ends, rather than from a reset. A
    // body still arriving is never read to its end (it may be any size): the connection is closed
    // once the answer is out, and the client told so here.
    if (this.#env.draining || this.#bodyStillArriving()) this.#res.shouldKeepAlive = false;
    try {
      this.#res.writeHead(statusCode, headers);
      return true;
    } catch (err) {
      this.#env.log.error({ err, request_id: ctx.requestId }, 'response headers are invalid');
      this.#res.destroy();
      return false;
    }
  }

  readonly #onDrain = (): void => {
    this.#waitingForDrain = false;
    this.#controller?.resume();
  };

  readonly #onClose = (): void => {
    const res = this.#res;
    if (!res.writableFinished && this.#answeredMs === undefined) {
      this.#clientGone = true;
      if (this.#flag === '-') this.#flag = 'DC';
      if (this.#upstreamCalled && !this.#upstreamDone) {
        // Aborting the call frees the upstream at once; failing the body covers a call not started yet.
        this.#controller?.abort(CLIENT_GONE);
        this.#body?.destroy(CLIENT_GONE);
      }
    }
    const route = this.#route;
    const call = this.#controller as MeshCallView | undefined;
    const endpoint = call?.endpoint;
    // An answer the mesh made itself (an injected fault) or one after a delay or retries: the
    // mesh's flags say so when the gateway has none of its own.
    const flags = this.#flag === '-' && call?.responseFlags !== undefined ? call.responseFlags : this.#flag;
    this.#generation.leave();
    this.#env.finished({
      request_id: this.#ctx.requestId,
      method: this.#req.method ?? '',
      path: this.#path,
      route: route?.label,
      status: res.headersSent ? res.statusCode : 0,
      bytes_out: this.#bytesOut,
      duration_ms: Math.round(((this.#answeredMs ?? performance.now()) - this.#startMs) * 1000) / 1000,
      upstream_service: this.#upstreamCalled ? route?.spec.service : undefined,
      upstream_version: endpoint?.version,
      upstream_endpoint: endpoint?.id,
      response_flags: flags,
      connection_security_policy: call?.securityPolicy ?? 'none',
      client_ip: this.#ctx.clientIp,
      error_code: this.#errorCode,
    });
  };
}

/**
 * What the mesh's call controller tells of a call beyond undici's controller: the endpoint of its
 * last attempt (undefined when none was chosen), its response flags and whether it was mutual TLS.
 */
interface MeshCallView extends Dispatcher.DispatchController {
  readonly endpoint?: { id: string; version: string };
  readonly responseFlags?: ResponseFlags;
  readonly securityPolicy?: 'mutual_tls' | 'none';
}
