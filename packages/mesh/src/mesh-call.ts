import type { Duplex } from 'node:stream';
import { type Dispatcher, errors } from 'undici';
import { MESH_DEFAULTS } from './defaults.ts';
import { type MeshRequestMessage, meshRequestChannel } from './diagnostics.ts';
import { MeshError, type MeshErrorCode } from './errors.ts';
import { failureKind } from './failure-kind.ts';
import type { Routes } from './routes.ts';
import type { MeshDispatchOptions, MeshSource } from './types.ts';
import type { Upstream } from './upstream.ts';

type ResponseHeaders = Record<string, string | string[] | undefined>;

/** What a call reads of its client. */
export interface CallContext {
  readonly source: MeshSource;
  /** The routes of the newest table; replaced whole when a table arrives, never edited. */
  readonly routes: Routes;
  readonly closed: boolean;
}

/** Label value for a destination that was never chosen, as Istio writes it. */
const UNKNOWN = 'unknown';

/**
 * One call through the mesh, from dispatch to its last callback.
 *
 * It stands between the caller's handler and undici. Towards undici it is the handler of each
 * attempt; towards the caller it is the one controller of the whole call, stable across retries, so
 * pause, resume and abort reach whichever attempt is current. This is undici's RetryHandler and
 * RetryController folded into one object, so that a call costs one allocation.
 *
 * The caller's handler gets onRequestStart at once, inside dispatch (so it can abort a call that
 * is still connecting), then exactly one of onResponseEnd, onResponseError or onRequestUpgrade.
 * Callbacks of an attempt that arrive after the call has finished (a timed-out attempt winding
 * down) only release the endpoint's in-flight count.
 */
export class MeshCall implements Dispatcher.DispatchHandler, Dispatcher.DispatchController {
  readonly #context: CallContext;
  readonly #options: MeshDispatchOptions;
  readonly #handler: Dispatcher.DispatchHandler;
  readonly #startedAt = performance.now();
  #upstream: Upstream | undefined;
  /** Controller of the current attempt; null until undici starts writing it to a connection. */
  #attempt: Dispatcher.DispatchController | null = null;
  /** Endpoints that failed this call before it reached a process. */
  #tried: Upstream[] | undefined;
  #responseStarted = false;
  #statusCode = 0;
  #timer: NodeJS.Timeout | undefined;
  #paused = false;
  #reason: Error | null = null;
  #done = false;

  constructor(context: CallContext, options: MeshDispatchOptions, handler: Dispatcher.DispatchHandler) {
    this.#context = context;
    this.#options = options;
    this.#handler = handler;
  }

  /** The endpoint of the current attempt. */
  get endpoint(): Upstream['endpoint'] | undefined {
    return this.#upstream?.endpoint;
  }

  /** Resolves the destination and sends the first attempt. */
  start(): void {
    this.#handler.onRequestStart?.(this, null);
    if (this.#done) return;
    if (this.#context.closed) {
      this.#fail(new errors.ClientClosedError('The mesh client is closed.'), '-');
      return;
    }
    const route = this.#context.routes.services.get(this.#options.service);
    const upstream = route?.pick();
    if (upstream === undefined) {
      this.#failWith(route === undefined ? 'MESH_UNKNOWN_SERVICE' : 'MESH_NO_ENDPOINT');
      return;
    }
    const timeoutMs = this.#options.timeoutMs;
    if (timeoutMs !== undefined) this.#timer = setTimeout(MeshCall.#expire, timeoutMs, this);
    this.#send(upstream);
  }

  // Controller side: what the caller's handler calls.

  get aborted(): boolean {
    return this.#reason !== null;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  get rawHeaders(): Dispatcher.DispatchController['rawHeaders'] {
    return this.#attempt?.rawHeaders;
  }

  get rawTrailers(): Dispatcher.DispatchController['rawTrailers'] {
    return this.#attempt?.rawTrailers;
  }

  pause(): void {
    this.#paused = true;
    this.#attempt?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#attempt?.resume();
  }

  abort(reason: Error): void {
    if (this.#done) return;
    this.#reason = reason;
    this.#finish('DC');
    this.#attempt?.abort(reason);
    this.#handler.onResponseError?.(this, reason);
  }

  // Handler side: what undici calls for the current attempt.

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#done) {
      controller.abort(this.#reason!);
      return;
    }
    this.#attempt = controller;
    if (this.#paused) controller.pause();
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: ResponseHeaders,
    statusMessage?: string,
  ): void {
    if (this.#done) return;
    this.#responseStarted = true;
    this.#statusCode = statusCode;
    this.#handler.onResponseStart?.(this, statusCode, headers, statusMessage);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#done) return;
    this.#handler.onResponseData?.(this, chunk);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: ResponseHeaders): void {
    this.#upstream!.inFlight--;
    if (this.#done) return;
    this.#finish('-');
    this.#handler.onResponseEnd?.(this, trailers);
  }

  onRequestUpgrade(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: ResponseHeaders,
    socket: Duplex,
  ): void {
    this.#upstream!.inFlight--;
    if (this.#done) {
      socket.destroy();
      return;
    }
    this.#statusCode = statusCode;
    this.#finish('-');
    this.#handler.onRequestUpgrade?.(this, statusCode, headers, socket);
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    const upstream = this.#upstream!;
    upstream.inFlight--;
    if (this.#done) return;
    const kind = failureKind(error);
    if (kind === undefined) {
      this.#fail(error, '-');
      return;
    }
    let code: MeshErrorCode;
    let retryable = false;
    if (kind === 'connect' || (kind === 'reset' && this.#attempt === null)) {
      code = 'MESH_CONNECT_FAILED';
      retryable = true;
    } else if (kind === 'timeout') {
      code = 'MESH_TIMEOUT';
    } else {
      code = 'MESH_UPSTREAM_RESET';
      // The request may have reached a process that died before answering: sending it again is
      // safe only when doing it twice means the same as once.
      retryable = kind === 'reset' && !this.#responseStarted && safeToRepeat(this.#options);
    }
    if (retryable && this.#retry(upstream)) return;
    this.#failWith(code, error);
  }

  /**
   * Sends the call again, at once, to an endpoint it has not failed on. Only for failures before
   * any response byte, and only with a body that can be sent twice: such a request most likely
   * never reached a process (refused, or a kept-alive connection that had died), so the retry is
   * what hides a killed instance from callers.
   */
  #retry(failed: Upstream): boolean {
    this.#tried ??= [];
    if (this.#tried.length >= MESH_DEFAULTS.connectRetries || !isReplayable(this.#options.body)) return false;
    this.#tried.push(failed);
    // The newest routes, not those the call started with: a table that arrived meanwhile may have
    // dropped an endpoint, and its pool is closed.
    const next = this.#context.routes.services.get(this.#options.service)?.pick(this.#tried);
    if (next === undefined) return false;
    this.#send(next);
    return true;
  }

  #send(upstream: Upstream): void {
    this.#upstream = upstream;
    this.#attempt = null;
    upstream.inFlight++;
    upstream.pool.dispatch(this.#options, this);
  }

  static #expire(call: MeshCall): void {
    call.#timer = undefined;
    if (call.#done) return;
    const error = new MeshError('MESH_TIMEOUT', call.#options.service);
    call.#reason = error;
    call.#finish('UT');
    call.#attempt?.abort(error);
    call.#handler.onResponseError?.(call, error);
  }

  #failWith(code: MeshErrorCode, cause?: Error): void {
    const error = new MeshError(code, this.#options.service, cause === undefined ? undefined : { cause });
    this.#fail(error, error.responseFlag);
  }

  #fail(error: Error, responseFlags: string): void {
    this.#finish(responseFlags);
    this.#handler.onResponseError?.(this, error);
  }

  #finish(responseFlags: string): void {
    this.#done = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (meshRequestChannel.hasSubscribers) this.#publish(responseFlags);
  }

  #publish(responseFlags: string): void {
    const upstream = this.#upstream;
    const message: MeshRequestMessage = {
      sourceWorkload: this.#context.source.workload,
      sourceVersion: this.#context.source.version,
      destinationService: this.#options.service,
      destinationVersion: upstream?.version ?? UNKNOWN,
      endpointId: upstream?.id ?? UNKNOWN,
      method: this.#options.method,
      statusCode: this.#statusCode,
      responseFlags,
      durationMs: performance.now() - this.#startedAt,
    };
    meshRequestChannel.publish(message);
  }
}

function isReplayable(body: MeshDispatchOptions['body']): boolean {
  return body == null || typeof body === 'string' || body instanceof Uint8Array;
}

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Whether a request may run twice without harm: an idempotent method, or an idempotency key. */
function safeToRepeat(options: MeshDispatchOptions): boolean {
  if (IDEMPOTENT_METHODS.has(options.method.toUpperCase())) return true;
  const headers = options.headers;
  if (headers === null || typeof headers !== 'object') return false;
  if (Array.isArray(headers)) {
    return headers.some((entry, i) => i % 2 === 0 && String(entry).toLowerCase() === 'idempotency-key');
  }
  return Object.keys(headers).some((name) => name.toLowerCase() === 'idempotency-key');
}
