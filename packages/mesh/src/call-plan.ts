import { HEADERS, type RetryPolicy as RetrySpec, VERSION_BAGGAGE_KEY } from '@flotilla/spec';
import { headerOf } from './request-headers.ts';
import {
  baggageGet,
  baggageSet,
  decideFault,
  type FaultDecision,
  matchRule,
  pickSubset,
  shouldMirror,
} from './routing/index.ts';
import type { ServiceRoute } from './service-route.ts';
import type { CallScope, MeshDispatchOptions } from './types.ts';

/** A retry policy compiled once per table: `retryOn` as flags, read on every failed attempt. */
export interface RetryPolicy {
  readonly attempts: number;
  readonly perTryTimeoutMs: number | undefined;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly retryOn: {
    readonly connectFailure: boolean;
    readonly reset: boolean;
    readonly unavailable: boolean;
    readonly gatewayError: boolean;
    readonly any5xx: boolean;
  };
}

/** Compiles a service's retries, with a rule's override on top when it has one. */
export function compileRetryPolicy(base: RetrySpec, override?: Partial<RetrySpec>): RetryPolicy {
  const spec = override === undefined ? base : { ...base, ...override };
  const on = new Set(spec.retryOn);
  return Object.freeze({
    attempts: spec.attempts,
    perTryTimeoutMs: spec.perTryTimeoutMs,
    backoffBaseMs: spec.backoffBaseMs,
    backoffMaxMs: Math.max(spec.backoffBaseMs, spec.backoffMaxMs),
    retryOn: Object.freeze({
      connectFailure: on.has('connect-failure'),
      reset: on.has('reset'),
      unavailable: on.has('unavailable'),
      gatewayError: on.has('gateway-error'),
      any5xx: on.has('5xx'),
    }),
  });
}

/** Whether the policy retries an answer with this status. */
export function retryableStatus(policy: RetryPolicy, status: number): boolean {
  const on = policy.retryOn;
  if (on.any5xx) return status >= 500;
  if (on.gatewayError && (status === 502 || status === 503 || status === 504)) return true;
  return on.unavailable && status === 503;
}

/** Everything a call decided before its first attempt. */
export interface CallPlan {
  /** The version to call; undefined when none can serve (the call fails with UH). */
  readonly version: string | undefined;
  /** The version was chosen by a rule or a pin: retries stay within it. */
  readonly pinned: boolean;
  /** A pinned version did not exist and the stable one was chosen. */
  readonly fallback: boolean;
  /** `performance.now()` at which the call gives up, retries included. */
  readonly deadline: number;
  readonly retries: RetryPolicy;
  /** An idempotent method or an Idempotency-Key: the request may run twice. */
  readonly safeToRepeat: boolean;
  readonly fault: FaultDecision;
  /** The version a copy goes to, when the rule mirrors this call. */
  readonly mirror: string | undefined;
  /** Headers every attempt carries on behalf of the inbound request: baggage, trace context. */
  readonly propagate: Readonly<Record<string, string>>;
}

const NOTHING: Readonly<Record<string, string>> = Object.freeze({});
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Decides a call: the first traffic rule that matches, the version (by `pickSubset`: the rule's
 * weights, else the pin, else the service's weights), the deadline (the call's, the rule's or the service's timeout,
 * never past the inbound request's own deadline), the retry policy, an injected fault, a mirror,
 * and what to propagate. Rules are written by the user and win over a pin: a pin is a default.
 */
export function planCall(
  route: ServiceRoute,
  options: MeshDispatchOptions,
  sourceLabels: Readonly<Record<string, string>>,
  scope: CallScope | undefined,
): CallPlan {
  const headers = options.headers;
  const rule =
    route.rules.length === 0
      ? undefined
      : matchRule(route.rules, { method: options.method, path: options.path, headers }, sourceLabels);
  const now = performance.now();
  let timeoutMs = options.timeoutMs ?? rule?.timeoutMs ?? route.resilience.timeoutMs;
  if (options.maxTimeoutMs !== undefined && options.maxTimeoutMs < timeoutMs)
    timeoutMs = options.maxTimeoutMs;
  let deadline = now + timeoutMs;
  if (scope?.deadline !== undefined && scope.deadline < deadline) deadline = scope.deadline;

  // The call's own baggage wins over the scope's, as its own traceparent does: the caller set it.
  const ownBaggage = headerOf(headers, 'baggage');
  // A pin the call itself carries is the caller's explicit word and beats the inbound request's.
  const pin = headerOf(headers, HEADERS.version) ?? baggageGet(ownBaggage, VERSION_BAGGAGE_KEY) ?? scope?.pin;
  const choice = pickSubset(rule?.route, pin, route);

  let propagate = NOTHING;
  const carried = ownBaggage ?? scope?.baggage;
  const baggage = pin === undefined ? carried : baggageSet(carried, VERSION_BAGGAGE_KEY, pin);
  const traceparent = scope?.traceparent;
  const mirrored = scope?.mirrored === true;
  if ((baggage !== undefined && baggage !== ownBaggage) || traceparent !== undefined || mirrored) {
    const set: Record<string, string> = {};
    if (baggage !== undefined) set.baggage = baggage;
    if (traceparent !== undefined && headerOf(headers, 'traceparent') === undefined) {
      set.traceparent = traceparent;
      if (scope?.tracestate !== undefined) set.tracestate = scope.tracestate;
    }
    // A copy's calls are copies: every hop down the chain can tell, and skip side effects.
    if (mirrored) set[HEADERS.mirror] = '1';
    propagate = set;
  }

  const mirror = rule?.mirror;
  return {
    version: choice.subset?.name,
    pinned: rule?.route !== undefined || Boolean(pin),
    fallback: choice.fallback,
    deadline,
    retries: rule === undefined ? route.retries : route.retriesOf(rule),
    safeToRepeat: safeToRepeat(options),
    fault: decideFault(rule?.fault, Math.random),
    mirror: mirror !== undefined && shouldMirror(mirror, Math.random) ? mirror.subset : undefined,
    propagate,
  };
}

/** Whether a request may run twice without harm: an idempotent method, or an idempotency key. */
function safeToRepeat(options: MeshDispatchOptions): boolean {
  if (IDEMPOTENT_METHODS.has(options.method.toUpperCase())) return true;
  return headerOf(options.headers, 'idempotency-key') !== undefined;
}
