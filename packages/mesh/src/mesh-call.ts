import { type Duplex, Readable } from 'node:stream';
import { HEADERS } from '@flotilla/spec';
import { type Dispatcher, errors } from 'undici';
import { type CallPlan, planCall, type RetryPolicy, retryableStatus } from './call-plan.ts';
import { type MeshRequestMessage, meshRequestChannel } from './diagnostics.ts';
import { MeshError, type MeshErrorCode } from './errors.ts';
import { failureKind } from './failure-kind.ts';
import { withHeaders } from './request-headers.ts';
import { backoffMs, type CircuitBreaker } from './resilience/index.ts';
import type { Routes } from './routes.ts';
import type { ServiceRoute } from './service-route.ts';
import type { CallScope, MeshDispatchOptions, MeshSource } from './types.ts';
import type { Upstream } from './upstream.ts';

type ResponseHeaders = Record<string, string | string[] | undefined>;

/** What a call reads of its client. */
export interface CallContext {
  readonly source: MeshSource;
  /** The routes of the newest table; replaced whole when a table arrives, never edited. */
  readonly routes: Routes;
  readonly closed: boolean;
  /** The inbound request this call serves, if the process keeps one (the runtime does). */
  scope(): CallScope | undefined;
}

/** Label value for a destination that was never chosen, as Istio writes it. */
const UNKNOWN = 'unknown';

/**
 * One call through the mesh, from dispatch to its last callback.
 *
 * It stands between the caller's handler and undici. Towards undici it is the handler of each
 * attempt; towards the caller it is the one controller of the whole call, stable across retries, so
 * pause, resume and abort reach whichever attempt is current. This is undici's RetryHandler and
 * RetryController folded into one object, so that a call costs one allocation plus its plan.
 *
 * The decisions (which rule, which version, what deadline, which retry policy) are taken once, in
 * `planCall`; this class carries them out: fault injection, the circuit breaker, mirroring, the
 * attempts with their per-try deadlines, retries within the retry budget, outlier detection.
 *
 * The caller's handler gets onRequestStart at once, inside dispatch (so it can abort a call that
 * is still connecting), then exactly one of onResponseEnd, onResponseError or onRequestUpgrade.
 * Callbacks of an attempt that arrive after the call has finished (a timed-out attempt winding
 * down) only release the endpoint's in-flight count. An attempt whose answer is to be retried is
 * read to its end and dropped (`#discarding`), which keeps its connection for the next call.
 */
export class MeshCall implements Dispatcher.DispatchHandler, Dispatcher.DispatchController {
  readonly #context: CallContext;
  readonly #options: MeshDispatchOptions;
  readonly #handler: Dispatcher.DispatchHandler;
  readonly #startedAt = performance.now();
  #plan: CallPlan | undefined;
  #route: ServiceRoute | undefined;
  /** The inbound request this call serves, read once: callbacks run in undici's async context. */
  #scope: CallScope | undefined;
  #signal: AbortSignal | undefined;
  /** Backoff of the retry decided on, drawn once so the deadline check and the wait agree. */
  #nextDelayMs = 0;
  #upstream: Upstream | undefined;
  /** Controller of the current attempt; null until undici starts writing it to a connection. */
  #attempt: Dispatcher.DispatchController | null = null;
  /** Endpoints this call has failed on. */
  #tried: Upstream[] | undefined;
  #retries = 0;
  /**
   * Why the last retry was refused, as Envoy flags it: `URX` when the attempts were used up (or no
   * endpoint was left to try), `UO` when the retry budget was spent. Set only as the call ends.
   */
  #retryRefused: 'URX' | 'UO' | undefined;
  /** The current attempt is a retry holding a share of the retry budget. */
  #retryHeld = false;
  /** The call counts among the destination's calls in flight (the retry budget's base). */
  #counted = false;
  #responseStarted = false;
  #discarding = false;
  #statusCode = 0;
  #timer: NodeJS.Timeout | undefined;
  #tryTimer: NodeJS.Timeout | undefined;
  /** An injected delay or a retry's backoff, cleared if the call ends meanwhile. */
  #waitTimer: NodeJS.Timeout | undefined;
  /** The current attempt holds its endpoint's in-flight count and a breaker slot. */
  #attemptOpen = false;
  #tryTimedOut = false;
  #delayed = false;
  #paused = false;
  #reason: Error | null = null;
  #done = false;
  #flags: string | undefined;

  constructor(context: CallContext, options: MeshDispatchOptions, handler: Dispatcher.DispatchHandler) {
    this.#context = context;
    this.#options = options;
    this.#handler = handler;
  }

  /** The endpoint of the current attempt. */
  get endpoint(): Upstream['endpoint'] | undefined {
    return this.#upstream?.endpoint;
  }

  /** Envoy's response flags of the finished call (`-` for none); undefined while it runs. */
  get responseFlags(): string | undefined {
    return this.#flags;
  }

  /** Whether the current attempt goes over mutual TLS. */
  get securityPolicy(): 'mutual_tls' | 'none' {
    return this.#upstream?.securityPolicy ?? 'none';
  }

  /** Resolves the destination, applies the matching rule and sends the first attempt. */
  start(): void {
    this.#handler.onRequestStart?.(this, null);
    if (this.#done) return;
    if (this.#context.closed) {
      this.#fail(new errors.ClientClosedError('The mesh client is closed.'), '-');
      return;
    }
    const route = this.#context.routes.services.get(this.#options.service);
    if (route === undefined) {
      this.#failWith('MESH_UNKNOWN_SERVICE');
      return;
    }
    this.#route = route;
    const scope = this.#context.scope();
    this.#scope = scope;
    const plan = planCall(route, this.#options, this.#context.routes.sourceLabels, scope);
    this.#plan = plan;
    const signal = scope?.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.abort(abortReason(signal));
        return;
      }
      this.#signal = signal;
      signal.addEventListener('abort', this, { once: true });
    }
    const remaining = plan.deadline - performance.now();
    if (remaining <= 0) {
      this.#failWith('MESH_TIMEOUT');
      return;
    }
    if (plan.version === undefined) {
      this.#failWith('MESH_NO_ENDPOINT');
      return;
    }
    if (plan.fallback) scope?.fellBack(route.name, plan.version);
    this.#counted = true;
    route.destination.budget.requestStarted();
    this.#timer = setTimeout(MeshCall.#expire, remaining, this);
    const { delayMs } = plan.fault;
    if (delayMs > 0) {
      this.#delayed = true;
      this.#waitTimer = setTimeout(MeshCall.#afterDelay, delayMs, this);
      return;
    }
    this.#afterFault();
  }

  /** The scope's signal fired: the inbound request this call serves was cancelled. */
  handleEvent(): void {
    // The inbound request's deadline and this call's are the same moment: whichever timer fires
    // first, the call ends as a timeout (UT), not as a cancellation.
    if (this.#plan !== undefined && performance.now() >= this.#plan.deadline - 1) MeshCall.#expire(this);
    else this.abort(abortReason(this.#signal!));
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
    if (this.#tryTimedOut) controller.abort(new MeshError('MESH_TIMEOUT', this.#options.service));
    else if (this.#paused) controller.pause();
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: ResponseHeaders,
    statusMessage?: string,
  ): void {
    if (this.#done) return;
    // Interim answers (100 Continue, 103 Early Hints) precede the final one.
    if (statusCode >= 200) {
      this.#clearTryTimer();
      this.#recordOutcome(statusCode < 500);
      const fallback = headers[HEADERS.versionFallback];
      if (fallback !== undefined) this.#relayFallbacks(fallback);
      if (statusCode >= 500 && this.#shouldRetryStatus(statusCode, headers)) {
        this.#discarding = true;
        this.#markTried(this.#upstream!);
        return;
      }
    }
    this.#responseStarted = true;
    this.#statusCode = statusCode;
    this.#handler.onResponseStart?.(this, statusCode, headers, statusMessage);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#done || this.#discarding) return;
    this.#handler.onResponseData?.(this, chunk);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: ResponseHeaders): void {
    this.#endAttempt();
    if (this.#done) return;
    if (this.#discarding) {
      this.#discarding = false;
      this.#scheduleRetry();
      return;
    }
    this.#finish(this.#retryRefused ?? '-');
    this.#handler.onResponseEnd?.(this, trailers);
  }

  onRequestUpgrade(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: ResponseHeaders,
    socket: Duplex,
  ): void {
    this.#endAttempt();
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
    this.#endAttempt();
    if (this.#done) return;
    this.#clearTryTimer();
    if (this.#discarding) {
      // The answer being dropped broke off; the retry was decided already.
      this.#discarding = false;
      this.#scheduleRetry();
      return;
    }
    const tryTimedOut = this.#tryTimedOut;
    this.#tryTimedOut = false;
    const kind = tryTimedOut ? 'timeout' : failureKind(error);
    if (kind === undefined) {
      this.#fail(error, '-');
      return;
    }
    this.#recordOutcome(false);
    let code: MeshErrorCode;
    let retryable = false;
    const policy = this.#plan!.retries;
    // Nothing was written (no controller yet) and nothing answered: the request reached no process.
    const unsent = this.#attempt === null && !this.#responseStarted;
    if (unsent && (kind === 'connect' || kind === 'reset')) {
      // Never reached a process: always safe to send again, at once, to another endpoint.
      code = 'MESH_CONNECT_FAILED';
      this.#markTried(upstream);
      // A retry that went out, or that failed the call itself (the breaker refused it), is the end of this one.
      if (policy.retryOn.connectFailure && this.#canRetry(0, true) && (this.#sendRetry(true) || this.#done))
        return;
    } else if (kind === 'timeout') {
      code = 'MESH_TIMEOUT';
      // Envoy counts a try that timed out as a 504 and as a broken try: any of these retries it.
      const on = policy.retryOn;
      retryable = tryTimedOut && this.#plan!.safeToRepeat && (on.reset || on.gatewayError || on.any5xx);
    } else {
      code = 'MESH_UPSTREAM_RESET';
      // The request may have reached a process that died before answering: sending it again is
      // safe only when doing it twice means the same as once.
      retryable =
        kind === 'reset' && !this.#responseStarted && this.#plan!.safeToRepeat && policy.retryOn.reset;
    }
    if (retryable && this.#canRetry(this.#drawBackoff())) {
      this.#markTried(upstream);
      this.#scheduleRetry();
      return;
    }
    this.#failWith(code, error);
  }

  #afterFault(): void {
    const plan = this.#plan!;
    const status = plan.fault.abortStatus;
    if (status !== undefined) {
      this.#answerFault(status);
      return;
    }
    const upstream = this.#route!.pick(plan.version!, undefined, plan.pinned);
    if (upstream === undefined) {
      this.#failWith('MESH_NO_ENDPOINT');
      return;
    }
    if (!this.#send(upstream)) {
      this.#failWith('MESH_OVERFLOW');
      return;
    }
    // After the call itself went out: a copy never takes the breaker slot the caller needed.
    if (plan.mirror !== undefined) this.#mirror(plan.mirror);
  }

  static #afterDelay(call: MeshCall): void {
    call.#waitTimer = undefined;
    if (!call.#done) call.#afterFault();
  }

  /** An injected abort: the call answers as the rule says and no endpoint is called (flag FI). */
  #answerFault(status: number): void {
    const body = Buffer.from(
      JSON.stringify({
        error: {
          code: 'FAULT_INJECTED',
          message: `A fault rule of ${this.#options.service} answered ${status} instead of calling it; see services.${this.#options.service}.traffic in flotilla.yaml.`,
        },
      }),
    );
    this.#statusCode = status;
    this.#responseStarted = true;
    this.#finish('FI');
    const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
    this.#handler.onResponseStart?.(this, status, headers, '');
    this.#handler.onResponseData?.(this, body);
    this.#handler.onResponseEnd?.(this, {});
  }

  /**
   * Sends a copy to the mirror version; its answer, or its failure, is never seen by the caller.
   * It takes its place in the circuit breaker like any try, and is dropped when there is none.
   */
  #mirror(subset: string): void {
    if (!isReplayable(this.#options.body)) return;
    const route = this.#route!;
    const upstream = route.pick(subset, undefined, true);
    if (upstream === undefined) return;
    const breaker = route.destination.breaker;
    if (breaker.tryAcquire(upstream.inFlight) !== 'ok') return;
    upstream.inFlight++;
    const remaining = Math.max(1, Math.floor(this.#plan!.deadline - performance.now()));
    const headers = withHeaders(this.#options.headers, {
      ...this.#plan!.propagate,
      [HEADERS.timeout]: String(remaining),
      // Marks the copy, as Istio's `-shadow` host does: a service can skip side effects for it.
      [HEADERS.mirror]: '1',
    });
    upstream.pool.dispatch({ ...this.#options, headers }, new MirrorHandler(upstream, breaker, remaining));
  }

  #shouldRetryStatus(statusCode: number, headers: ResponseHeaders): boolean {
    const plan = this.#plan!;
    // A destination that refused for overload must not get the same request again at once.
    if (headers[HEADERS.overloaded] !== undefined) return false;
    if (!plan.safeToRepeat || !retryableStatus(plan.retries, statusCode)) return false;
    return this.#canRetry(this.#drawBackoff());
  }

  #markTried(upstream: Upstream): void {
    if (this.#tried === undefined) this.#tried = [upstream];
    else this.#tried.push(upstream);
  }

  #drawBackoff(): number {
    const policy: RetryPolicy = this.#plan!.retries;
    this.#nextDelayMs = backoffMs(this.#retries + 1, policy.backoffBaseMs, policy.backoffMaxMs, Math.random);
    return this.#nextDelayMs;
  }

  /**
   * Whether another attempt may go out after `delayMs`: attempts left, a body that can be sent
   * again, time left before the deadline, and room in the destination's retry budget (taken here,
   * held until the attempt ends). Checked in Envoy's order, so that a refusal flags the same.
   */
  #canRetry(delayMs: number, unsent = false): boolean {
    const plan = this.#plan!;
    const { attempts } = plan.retries;
    if (this.#retries >= attempts) {
      if (attempts > 0) this.#retryRefused = 'URX';
      return false;
    }
    const body = this.#options.body;
    // A stream nobody has read from yet (the connection was refused before undici wrote it) can
    // still be sent, once, elsewhere: that is what keeps a proxied POST alive through a restart.
    const sendable = isReplayable(body) || (unsent && isUnreadStream(body));
    if (!sendable || performance.now() + delayMs >= plan.deadline) return false;
    this.#releaseRetry();
    if (!this.#route!.destination.budget.tryAcquireRetry()) {
      this.#retryRefused = 'UO';
      return false;
    }
    this.#retryHeld = true;
    return true;
  }

  /** Waits the jittered backoff drawn for this retry, then sends it. */
  #scheduleRetry(): void {
    this.#attempt = null;
    this.#waitTimer = setTimeout(MeshCall.#retryNow, this.#nextDelayMs, this);
  }

  static #retryNow(call: MeshCall): void {
    call.#waitTimer = undefined;
    if (call.#done) {
      call.#releaseRetry();
      return;
    }
    if (!call.#sendRetry(false) && !call.#done) call.#failWith('MESH_NO_ENDPOINT');
  }

  /**
   * Sends the next attempt, to an endpoint the call has not failed on when there is one. The
   * newest routes are read, not those the call started with: a table that arrived meanwhile may
   * have dropped an endpoint, and its pool is closed.
   */
  #sendRetry(connectFailure: boolean): boolean {
    const plan = this.#plan!;
    const route = this.#context.routes.services.get(this.#options.service) ?? this.#route!;
    const next =
      route.pick(plan.version!, this.#tried, plan.pinned) ??
      (connectFailure ? undefined : route.pick(plan.version!, undefined, plan.pinned));
    if (next === undefined) {
      // Every endpoint refused a connection: nothing is left to try.
      if (connectFailure) this.#retryRefused = 'URX';
      this.#releaseRetry();
      return false;
    }
    // Counted before it is sent: a pool that fails it at once calls back inside #send.
    this.#retries++;
    if (this.#send(next)) return true;
    this.#retries--;
    this.#failWith('MESH_OVERFLOW');
    return false;
  }

  /**
   * Sends an attempt to `upstream`, if the destination's circuit breaker lets it: false when the
   * destination already has its limit of tries in flight or waiting from this process.
   */
  #send(upstream: Upstream): boolean {
    const plan = this.#plan!;
    if (this.#route!.destination.breaker.tryAcquire(upstream.inFlight) !== 'ok') return false;
    this.#upstream = upstream;
    this.#attempt = null;
    this.#responseStarted = false;
    const now = performance.now();
    let budgetMs = plan.deadline - now;
    const perTry = plan.retries.perTryTimeoutMs;
    if (perTry !== undefined && perTry < budgetMs) {
      budgetMs = perTry;
      this.#tryTimer = setTimeout(MeshCall.#expireTry, perTry, this);
    }
    const headers = withHeaders(this.#options.headers, {
      ...plan.propagate,
      [HEADERS.timeout]: String(Math.max(1, Math.floor(budgetMs))),
    });
    upstream.inFlight++;
    this.#attemptOpen = true;
    upstream.pool.dispatch({ ...this.#options, headers }, this);
    return true;
  }

  /**
   * An attempt ended, whatever its outcome: its endpoint and the circuit breaker count one fewer.
   * Once per attempt: undici reports a handler that threw in onResponseEnd as an error as well.
   */
  #endAttempt(): void {
    if (!this.#attemptOpen) return;
    this.#attemptOpen = false;
    const upstream = this.#upstream!;
    upstream.inFlight--;
    this.#route!.destination.breaker.release(upstream.inFlight);
  }

  /** A try ran past its own deadline: abort it; onResponseError decides whether to retry. */
  static #expireTry(call: MeshCall): void {
    call.#tryTimer = undefined;
    if (call.#done) return;
    call.#tryTimedOut = true;
    call.#attempt?.abort(new MeshError('MESH_TIMEOUT', call.#options.service));
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

  #recordOutcome(ok: boolean): void {
    const upstream = this.#upstream!;
    const route = this.#route!;
    route.destination.outliers(upstream.version).record(upstream.id, ok, route.countOf(upstream.version));
  }

  /** Hands the fallbacks a downstream hop reported to this process's inbound request. */
  #relayFallbacks(value: string | string[]): void {
    const scope = this.#scope;
    if (scope === undefined) return;
    for (const entry of (Array.isArray(value) ? value.join(',') : value).split(',')) {
      const at = entry.indexOf('=');
      if (at > 0) scope.fellBack(entry.slice(0, at).trim(), entry.slice(at + 1).trim());
    }
  }

  #clearTryTimer(): void {
    if (this.#tryTimer !== undefined) {
      clearTimeout(this.#tryTimer);
      this.#tryTimer = undefined;
    }
  }

  #releaseRetry(): void {
    if (this.#retryHeld) {
      this.#retryHeld = false;
      this.#route!.destination.budget.retryEnded();
    }
  }

  /**
   * Fails the call with a MeshError. Its flag is the error's own, or URX when the failure came
   * after the retries were used up; a timeout stays UT, since the deadline is what to look at.
   */
  #failWith(code: MeshErrorCode, cause?: Error): void {
    const error = new MeshError(code, this.#options.service, cause === undefined ? undefined : { cause });
    this.#fail(error, this.#retryRefused === 'URX' && code !== 'MESH_TIMEOUT' ? 'URX' : error.responseFlag);
  }

  #fail(error: Error, responseFlags: string): void {
    this.#finish(responseFlags);
    this.#handler.onResponseError?.(this, error);
  }

  #finish(responseFlags: string): void {
    this.#done = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#waitTimer !== undefined) clearTimeout(this.#waitTimer);
    this.#clearTryTimer();
    this.#releaseRetry();
    if (this.#counted) {
      this.#counted = false;
      this.#route!.destination.budget.requestEnded();
    }
    this.#signal?.removeEventListener('abort', this);
    const flags = this.#delayed ? (responseFlags === '-' ? 'DI' : `DI,${responseFlags}`) : responseFlags;
    this.#flags = flags;
    if (meshRequestChannel.hasSubscribers) this.#publish(flags);
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
      connectionSecurityPolicy: upstream?.securityPolicy ?? 'none',
      retries: this.#retries,
    };
    meshRequestChannel.publish(message);
  }
}

/** The handler of a mirrored copy: counts the endpoint's load and drops everything else. */
class MirrorHandler implements Dispatcher.DispatchHandler {
  readonly #upstream: Upstream;
  readonly #breaker: CircuitBreaker;
  readonly #timer: NodeJS.Timeout;
  #controller: Dispatcher.DispatchController | undefined;

  constructor(upstream: Upstream, breaker: CircuitBreaker, timeoutMs: number) {
    this.#upstream = upstream;
    this.#breaker = breaker;
    this.#timer = setTimeout(() => this.#controller?.abort(new errors.RequestAbortedError()), timeoutMs);
    this.#timer.unref();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
  }

  // undici refuses a handler without these (InvalidArgumentError): the copy would never be sent.
  onResponseStart(): void {}

  onResponseData(): void {}

  onResponseEnd(): void {
    this.#done();
  }

  onResponseError(): void {
    this.#done();
  }

  onRequestUpgrade(_c: Dispatcher.DispatchController, _s: number, _h: ResponseHeaders, socket: Duplex): void {
    socket.destroy();
    this.#done();
  }

  #done(): void {
    clearTimeout(this.#timer);
    this.#upstream.inFlight--;
    this.#breaker.release(this.#upstream.inFlight);
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new errors.RequestAbortedError();
}

function isUnreadStream(body: MeshDispatchOptions['body']): boolean {
  return body instanceof Readable && !Readable.isDisturbed(body) && !body.destroyed;
}

function isReplayable(body: MeshDispatchOptions['body']): boolean {
  return body == null || typeof body === 'string' || body instanceof Uint8Array;
}
