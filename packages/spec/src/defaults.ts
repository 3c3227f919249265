/**
 * Every default of the system spec, in one place. Units are in the names.
 * The schema reads these; nothing else hard-codes a default that a spec can change.
 */
export const DEFAULTS = {
  controlPlane: { host: '127.0.0.1', port: 7070 },
  gateway: {
    listen: { host: '127.0.0.1', port: 8080 },
    replicas: 1,
    route: { timeoutMs: 15_000, stripPrefix: false },
    bodyLimit: { maxBytes: 1024 * 1024 },
    requestId: { header: 'x-request-id' },
    cors: { methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], maxAgeS: 600, credentials: false },
    jwt: {
      algorithms: ['ES256', 'EdDSA', 'RS256'],
      clockSkewS: 30,
      rolesClaim: 'roles',
      /** The JWKS is fetched again this often, so a revoked key stops verifying within it plus one fetch. */
      jwksCacheS: 2,
    },
    rateLimit: {
      key: 'ip',
      capacity: 100,
      refillPerSecond: 50,
      store: 'memory',
      redisUrl: 'redis://127.0.0.1:6379',
    },
  },
  service: {
    entry: 'src/main.ts',
    replicas: 1,
    version: 'v1',
    terminationGracePeriodMs: 10_000,
    liveness: { path: '/healthz', periodMs: 2_000, timeoutMs: 1_000, failureThreshold: 3, initialDelayMs: 0 },
    readiness: { path: '/readyz', periodMs: 1_000, timeoutMs: 1_000, failureThreshold: 1, initialDelayMs: 0 },
    /** How long an instance may take to become ready once before it counts as failed to start. */
    startupTimeoutMs: 30_000,
  },
  postgres: { port: 0 },
  bus: { kind: 'postgres', rabbitmqUrl: 'amqp://guest:guest@127.0.0.1:5672' },
  smtp: { sinkPort: 0 },
  mesh: {
    /** Instances accept plaintext too, so a system without certificates works; the shop says strict. */
    mtls: 'permissive',
    versionAffinity: false,
    /** Istio's workload certificates live 24 h; ours are cheaper to renew, so shorter. */
    certificates: { ttlMs: 3_600_000 },
    timeoutMs: 15_000,
    /** Istio's default: two retries, with Envoy's 25 ms base interval. */
    retries: {
      attempts: 2,
      retryOn: ['connect-failure', 'reset', 'unavailable'],
      backoffBaseMs: 25,
      backoffMaxMs: 250,
    },
    /** Envoy's retry budget default is 20% of active requests, min 3 concurrent; Linkerd's 20% + 10/s. */
    retryBudget: { percent: 20, minRetriesPerSecond: 10 },
    /** Envoy's circuit-breaker defaults: 1024 requests, 1024 pending. */
    circuitBreaker: { maxRequests: 1024, maxPendingRequests: 1024, maxConnectionsPerEndpoint: 128 },
    /** Envoy's outlier-detection defaults: 5 consecutive errors, 30 s base ejection, 10% (we allow half). */
    outlierDetection: { consecutiveErrors: 5, baseEjectionMs: 30_000, maxEjectionPercent: 50 },
  },
} as const;
