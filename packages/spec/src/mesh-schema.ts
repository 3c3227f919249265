import { z } from 'zod';
import { DEFAULTS } from './defaults.ts';

/**
 * The mesh's part of the spec: what Istio's VirtualService, DestinationRule, PeerAuthentication and
 * AuthorizationPolicy say, written once in flotilla.yaml. The control plane copies it into the
 * routing table with every default resolved; the mesh client in each process enforces it.
 */

const D = DEFAULTS.mesh;
const ms = (min: number) => z.int('expected a whole number of milliseconds').min(min, `expected >= ${min}`);
const percent = z.number().min(0, 'expected a percentage >= 0').max(100, 'expected a percentage <= 100');
const method = z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const subsetName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, 'expected a version name of the service');

function validRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** How a header or path is compared: exactly one of exact, prefix or regex (anchored, as Envoy's). */
const stringMatch = z.union(
  [
    z.strictObject({ exact: z.string() }),
    z.strictObject({ prefix: z.string() }),
    z.strictObject({ regex: z.string().refine(validRegex, 'expected a valid regular expression') }),
  ],
  { error: 'expected one of { exact }, { prefix } or { regex }' },
);

/** Conditions of a rule; all given ones must hold. */
const trafficMatch = z.strictObject({
  /** Request headers by lowercase name. */
  headers: z
    .record(z.string().regex(/^[a-z0-9-]+$/, 'expected a lowercase header name'), stringMatch)
    .optional(),
  /** The path without its query string. */
  path: stringMatch.optional(),
  methods: z.array(method).min(1).optional(),
  /**
   * Labels of the calling workload (Istio `sourceLabels`): `app` (its service name), `version`,
   * and the labels of its version in the spec. The gateway is `app: gateway`.
   */
  sourceLabels: z.record(z.string(), z.string()).optional(),
});

const destination = z.strictObject({
  subset: subsetName,
  weight: z.int().min(0).max(100).default(100),
});

/**
 * Each policy is written once as its fields without defaults: a service's override takes them as
 * they are (what it leaves out comes from `mesh.resilience`), the system-wide section with defaults.
 */
const retryFields = {
  /** Retries after the first try; 0 turns retries off. */
  attempts: z.int().min(0).max(10),
  /** Deadline of each try; the request's own timeout still bounds them all. */
  perTryTimeoutMs: ms(1),
  /**
   * What is retried. `connect-failure` (never reached a process) is always safe; the others only for
   * idempotent methods or requests with an Idempotency-Key. `reset`: the connection broke before a
   * response; `unavailable`: 503; `gateway-error`: 502, 503, 504; `5xx`: any 5xx. A 503 that says
   * the destination is overloaded (`x-flotilla-overloaded`) is never retried.
   */
  retryOn: z.array(z.enum(['connect-failure', 'reset', 'unavailable', 'gateway-error', '5xx'])),
  /** First backoff; each retry doubles it up to backoffMaxMs, with full jitter. */
  backoffBaseMs: ms(1),
  backoffMaxMs: ms(1),
};

const retryBudgetFields = {
  /** Retries in flight may be at most this share of the requests in flight to a destination ... */
  percent,
  /** ... plus this many retries per second, so that a quiet caller can still retry. */
  minRetriesPerSecond: z.number().min(0),
};

const circuitBreakerFields = {
  /** Requests in flight from one process to one destination service (response flag UO beyond). */
  maxRequests: z.int().min(1),
  /** Requests waiting for a connection, over every endpoint of the destination (UO beyond). */
  maxPendingRequests: z.int().min(0),
  /** Connections to one endpoint; requests beyond wait (pending). */
  maxConnectionsPerEndpoint: z.int().min(1),
};

const outlierDetectionFields = {
  /** 5xx answers or connect failures in a row that eject an endpoint; 0 turns ejection off. */
  consecutiveErrors: z.int().min(0),
  /** An ejection lasts this times the endpoint's ejection count. */
  baseEjectionMs: ms(1),
  /** Never more than this share of a destination's endpoints ejected at once (never the last one). */
  maxEjectionPercent: percent,
};

const retries = z.strictObject({
  attempts: retryFields.attempts.default(D.retries.attempts),
  perTryTimeoutMs: retryFields.perTryTimeoutMs.optional(),
  retryOn: retryFields.retryOn.default([...D.retries.retryOn]),
  backoffBaseMs: retryFields.backoffBaseMs.default(D.retries.backoffBaseMs),
  backoffMaxMs: retryFields.backoffMaxMs.default(D.retries.backoffMaxMs),
});
const retriesOverride = z.strictObject(retryFields).partial();

/** System-wide defaults: every field filled. */
export const resilienceSchema = z.strictObject({
  /** Deadline of a whole call, retries included; the remainder travels downstream. */
  timeoutMs: ms(1).default(D.timeoutMs),
  retries: retries.default(() => retries.parse({})),
  retryBudget: z
    .strictObject({
      percent: retryBudgetFields.percent.default(D.retryBudget.percent),
      minRetriesPerSecond: retryBudgetFields.minRetriesPerSecond.default(D.retryBudget.minRetriesPerSecond),
    })
    .default({ ...D.retryBudget }),
  circuitBreaker: z
    .strictObject({
      maxRequests: circuitBreakerFields.maxRequests.default(D.circuitBreaker.maxRequests),
      maxPendingRequests: circuitBreakerFields.maxPendingRequests.default(
        D.circuitBreaker.maxPendingRequests,
      ),
      maxConnectionsPerEndpoint: circuitBreakerFields.maxConnectionsPerEndpoint.default(
        D.circuitBreaker.maxConnectionsPerEndpoint,
      ),
    })
    .default({ ...D.circuitBreaker }),
  outlierDetection: z
    .strictObject({
      consecutiveErrors: outlierDetectionFields.consecutiveErrors.default(
        D.outlierDetection.consecutiveErrors,
      ),
      baseEjectionMs: outlierDetectionFields.baseEjectionMs.default(D.outlierDetection.baseEjectionMs),
      maxEjectionPercent: outlierDetectionFields.maxEjectionPercent.default(
        D.outlierDetection.maxEjectionPercent,
      ),
    })
    .default({ ...D.outlierDetection }),
});

/** A service's override: only what it sets; the rest comes from `mesh.resilience`. */
const resilienceOverride = z.strictObject({
  timeoutMs: ms(1).optional(),
  retries: retriesOverride.optional(),
  retryBudget: z.strictObject(retryBudgetFields).partial().optional(),
  circuitBreaker: z.strictObject(circuitBreakerFields).partial().optional(),
  outlierDetection: z.strictObject(outlierDetectionFields).partial().optional(),
});

const fault = z
  .strictObject({
    /** Holds the request this long before sending it (response flag DI). */
    delay: z.strictObject({ fixedDelayMs: ms(1), percent }).optional(),
    /** Answers at once with this status instead of calling (response flag FI). */
    abort: z.strictObject({ httpStatus: z.int().min(200).max(599), percent }).optional(),
  })
  .refine((f) => f.delay !== undefined || f.abort !== undefined, 'expected delay, abort or both');

/** One rule of a service's traffic (an Istio VirtualService http route). The first that matches applies. */
const trafficRule = z.strictObject({
  name: z.string().optional(),
  /** Absent: matches every request. */
  match: trafficMatch.optional(),
  /** Where matching requests go; weights are relative. Absent: the service's version weights. */
  route: z.array(destination).min(1).optional(),
  /** A copy of a share of matching requests to another version; its answers are dropped. */
  mirror: z.strictObject({ subset: subsetName, percent: percent.default(100) }).optional(),
  fault: fault.optional(),
  /** Overrides the service's timeoutMs for matching requests. */
  timeoutMs: ms(1).optional(),
  /** Overrides the service's retries for matching requests. */
  retries: retriesOverride.optional(),
});

/** Who may call a service (an Istio AuthorizationPolicy ALLOW rule). */
const authorizationRule = z.strictObject({
  /** Calling workloads: service names, or `gateway`. */
  from: z.array(z.string().min(1)).min(1),
  /** Allowed methods; any when absent. */
  methods: z.array(method).min(1).optional(),
  /** Allowed paths: exact, or a prefix ending in `*` (`/refunds/*`); any when absent. */
  paths: z.array(z.string().startsWith('/', 'expected a path starting with "/"')).min(1).optional(),
});

/** What a service says about traffic to it. */
export const serviceMeshSchema = {
  traffic: z.array(trafficRule).default([]),
  resilience: resilienceOverride.optional(),
  /**
   * Callers allowed in. When the list is present, anything it does not allow is refused with 403
   * (default deny); absent, any workload of the mesh may call.
   */
  authorization: z.array(authorizationRule).optional(),
};

/** The system-wide `mesh:` section. */
export const meshSchema = z.strictObject({
  /**
   * `strict`: every call between workloads is mutual TLS and plaintext is refused. `permissive`:
   * callers use mutual TLS, instances also accept plaintext (while migrating). `disable`: plaintext.
   */
  mtls: z.enum(['strict', 'permissive', 'disable']).default(D.mtls),
  /**
   * Pins a request to the version of the first service that received it from the gateway, carried
   * in `baggage` across every hop; where that version does not exist, the stable one answers.
   */
  versionAffinity: z.boolean().default(D.versionAffinity),
  certificates: z
    .strictObject({
      /** Lifetime of an instance certificate; renewed at half of it. */
      ttlMs: ms(2_000).default(D.certificates.ttlMs),
    })
    .default({ ttlMs: D.certificates.ttlMs }),
  resilience: resilienceSchema.default(() => resilienceSchema.parse({})),
});

export type StringMatch = z.output<typeof stringMatch>;
export type TrafficMatch = z.output<typeof trafficMatch>;
export type TrafficRule = z.output<typeof trafficRule>;
export type RetryPolicy = z.output<typeof retries>;
export type RetryOn = RetryPolicy['retryOn'][number];
export type ResilienceSpec = z.output<typeof resilienceSchema>;
export type ResilienceOverride = z.output<typeof resilienceOverride>;
export type FaultSpec = z.output<typeof fault>;
export type AuthorizationRule = z.output<typeof authorizationRule>;
export type MeshSpec = z.output<typeof meshSchema>;
export type MtlsMode = MeshSpec['mtls'];

/** `mesh.resilience` with every default, for a table built without a spec (tests, a fixed table). */
export const DEFAULT_RESILIENCE: ResilienceSpec = Object.freeze(resilienceSchema.parse({}));

/** A service's resilience: its overrides over the system-wide values, field by field. */
export function resolveResilience(
  base: ResilienceSpec,
  override: ResilienceOverride | undefined,
): ResilienceSpec {
  if (override === undefined) return base;
  return {
    timeoutMs: override.timeoutMs ?? base.timeoutMs,
    retries: { ...base.retries, ...override.retries },
    retryBudget: { ...base.retryBudget, ...override.retryBudget },
    circuitBreaker: { ...base.circuitBreaker, ...override.circuitBreaker },
    outlierDetection: { ...base.outlierDetection, ...override.outlierDetection },
  };
}

/** The version a pinned request falls back to: the highest weight, the first declared on a tie. */
export function stableVersionOf(versions: Record<string, { weight: number }>): string {
  let stable: string | undefined;
  let best = -1;
  for (const [name, { weight }] of Object.entries(versions)) {
    if (weight > best) {
      stable = name;
      best = weight;
    }
  }
  return stable ?? '';
}
