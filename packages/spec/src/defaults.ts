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
      jwksCacheS: 300,
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
} as const;
