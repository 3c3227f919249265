import { z } from 'zod';
import { DEFAULTS } from './defaults.ts';
import { meshSchema, serviceMeshSchema } from './mesh-schema.ts';

/** Kubernetes-compatible names (DNS-1123 labels), so that a spec renders to a cluster unchanged. */
const dnsLabel = z
  .string()
  .regex(
    /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'expected lowercase letters, digits and "-", starting with a letter',
  );
const versionName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, 'expected lowercase letters, digits, "." and "-"');
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name');
const port = z
  .int('expected an integer port')
  .min(0, 'expected a port >= 0')
  .max(65535, 'expected a port <= 65535');
const loopback = z
  .string()
  .refine(
    (h) => h === '127.0.0.1' || h === '::1' || h === 'localhost',
    'must be a loopback address (127.0.0.1, ::1)',
  );
const host = z.string().min(1);
const durationMs = (min: number) =>
  z.int('expected a whole number of milliseconds').min(min, `expected >= ${min}`);
const method = z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const stringMap = z.record(z.string(), z.string());

const probe = (d: (typeof DEFAULTS.service)['liveness' | 'readiness']) =>
  z.strictObject({
    path: z.string().startsWith('/', 'expected a path starting with "/"').default(d.path),
    periodMs: durationMs(50).default(d.periodMs),
    timeoutMs: durationMs(10).default(d.timeoutMs),
    failureThreshold: z.int().min(1).default(d.failureThreshold),
    initialDelayMs: durationMs(0).default(d.initialDelayMs),
  });

const version = z.strictObject({
  /** Share of traffic in percent. When no version of a service sets one, traffic is split evenly. */
  weight: z.int().min(0).max(100).optional(),
  /** Replicas of this version; the service's `replicas` when absent. */
  replicas: z.int('expected a number >= 0').min(0, 'expected a number >= 0').optional(),
  /** Entry file of this version, relative to the service's path; the service's `entry` when absent. */
  entry: z.string().optional(),
  labels: stringMap.default({}),
  env: z.record(envName, z.string()).default({}),
});

/** A secret by name, or one the control plane generates at random on first start and keeps. */
const secretSpec = z.union([
  envName,
  z.strictObject({
    name: envName,
    /** Create a random value in `.flotilla/secrets/NAME` on first start when none is given. */
    generate: z.boolean().default(false),
  }),
]);

/** Event types: dot-separated lowercase words (`order.paid`). */
const eventType = z
  .string()
  .regex(/^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/, 'expected dot-separated lowercase words, as order.paid');

const serviceEvents = z.strictObject({
  /** Event types this service writes to its outbox; documentation and the graph read it. */
  publishes: z.array(eventType).default([]),
  /**
   * Event types delivered to this service. The control plane declares the subscription before any
   * instance starts, so nothing published while the consumer is still starting is lost.
   */
  subscribes: z.array(eventType).default([]),
});

const service = z.strictObject({
  /** Directory of the service's source, relative to the spec file. */
  path: z.string().min(1),
  entry: z.string().min(1).default(DEFAULTS.service.entry),
  replicas: z
    .int('expected a number >= 0')
    .min(0, 'expected a number >= 0')
    .default(DEFAULTS.service.replicas),
  versions: z.record(versionName, version).default({ [DEFAULTS.service.version]: { labels: {}, env: {} } }),
  env: z.record(envName, z.string()).default({}),
  /** Secrets, resolved by the control plane from its environment or `.flotilla/secrets/NAME`. */
  secrets: z
    .array(secretSpec)
    .default([])
    .transform((list) =>
      list.map((s) =>
        typeof s === 'string' ? { name: s, generate: false } : { name: s.name, generate: s.generate },
      ),
    ),
  /** Whether the service uses the event bus (outbox, inbox), and what it publishes and receives. */
  events: serviceEvents.optional(),
  probes: z
    .strictObject({
      liveness: probe(DEFAULTS.service.liveness).default(DEFAULTS.service.liveness),
      readiness: probe(DEFAULTS.service.readiness).default(DEFAULTS.service.readiness),
    })
    .default({ liveness: DEFAULTS.service.liveness, readiness: DEFAULTS.service.readiness }),
  terminationGracePeriodMs: durationMs(0).default(DEFAULTS.service.terminationGracePeriodMs),
  startupTimeoutMs: durationMs(100).default(DEFAULTS.service.startupTimeoutMs),
  /** Whether the service gets a PostgreSQL database and role of its own (as DATABASE_URL). */
  database: z.boolean().default(false),
  ...serviceMeshSchema,
});

const cors = z.strictObject({
  /** Allowed origins, exactly as browsers send them (`https://shop.example`), or `*` for any origin. */
  origins: z.array(z.string().min(1)).min(1),
  methods: z.array(method).default([...DEFAULTS.gateway.cors.methods]),
  allowHeaders: z.array(z.string()).default([]),
  exposeHeaders: z.array(z.string()).default([]),
  credentials: z.boolean().default(DEFAULTS.gateway.cors.credentials),
  maxAgeS: z.int().min(0).default(DEFAULTS.gateway.cors.maxAgeS),
});

const jwt = z
  .strictObject({
    /** JWKS location: an absolute URL, or `http://<service>/<path>` to fetch it through the mesh. */
    jwksUrl: z.string().optional(),
    /** Static public keys (JWK). */
    keys: z.array(z.record(z.string(), z.unknown())).optional(),
    algorithms: z
      .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA']))
      .min(1)
      .default([...DEFAULTS.gateway.jwt.algorithms]),
    issuer: z.string().min(1),
    audience: z.string().min(1),
    clockSkewS: z.int().min(0).max(300).default(DEFAULTS.gateway.jwt.clockSkewS),
    rolesClaim: z.string().default(DEFAULTS.gateway.jwt.rolesClaim),
    jwksCacheS: z.int().min(1).default(DEFAULTS.gateway.jwt.jwksCacheS),
  })
  .refine((j) => Boolean(j.jwksUrl) !== Boolean(j.keys), {
    message: 'set exactly one of jwksUrl or keys',
  });

const rateLimit = z.strictObject({
  /** What a bucket belongs to: the client's IP, or the verified JWT subject (IP when unauthenticated). */
  key: z.enum(['ip', 'subject']).default(DEFAULTS.gateway.rateLimit.key),
  /** Bucket size: the burst a client may send at once. */
  capacity: z.int().min(1).default(DEFAULTS.gateway.rateLimit.capacity),
  refillPerSecond: z.number().positive().default(DEFAULTS.gateway.rateLimit.refillPerSecond),
  store: z.enum(['memory', 'redis']).default(DEFAULTS.gateway.rateLimit.store),
  redisUrl: z.string().default(DEFAULTS.gateway.rateLimit.redisUrl),
});

const headerTransform = z.strictObject({
  set: stringMap.default({}),
  remove: z.array(z.string()).default([]),
});

const headers = z.strictObject({
  request: headerTransform.optional(),
  response: headerTransform.optional(),
});

/** Gateway plugins. At route level, `false` turns a plugin off for that route. */
const plugins = z.strictObject({
  cors: cors.optional(),
  jwt: jwt.optional(),
  rateLimit: rateLimit.optional(),
  bodyLimit: z.strictObject({ maxBytes: z.int().min(0) }).optional(),
  headers: headers.optional(),
});

const routePlugins = z.strictObject({
  cors: z.union([cors, z.literal(false)]).optional(),
  jwt: z.union([jwt, z.literal(false)]).optional(),
  rateLimit: z.union([rateLimit, z.literal(false)]).optional(),
  bodyLimit: z.union([z.strictObject({ maxBytes: z.int().min(0) }), z.literal(false)]).optional(),
  headers: z.union([headers, z.literal(false)]).optional(),
});

const route = z.strictObject({
  name: z.string().optional(),
  match: z.strictObject({
    /** Exact host (without port), or `*.example.com`. Any host when absent. */
    host: z.string().optional(),
    pathPrefix: z.string().startsWith('/', 'expected a path starting with "/"').default('/'),
    methods: z.array(method).min(1).optional(),
  }),
  service: dnsLabel,
  /** Remove the matched prefix before forwarding (`/api/orders/x` -> `/x`). */
  stripPrefix: z.boolean().default(DEFAULTS.gateway.route.stripPrefix),
  /** Replace the matched prefix with this one before forwarding. */
  rewritePrefix: z.string().startsWith('/', 'expected a path starting with "/"').optional(),
  timeoutMs: durationMs(1).default(DEFAULTS.gateway.route.timeoutMs),
  plugins: routePlugins.default({}),
});

const gateway = z.strictObject({
  listen: z
    .strictObject({
      host: host.default(DEFAULTS.gateway.listen.host),
      port: port.default(DEFAULTS.gateway.listen.port),
    })
    .default({ ...DEFAULTS.gateway.listen }),
  replicas: z.int().min(1).default(DEFAULTS.gateway.replicas),
  plugins: plugins.default({}),
  routes: z.array(route).default([]),
});

const postgres = z.strictObject({
  /** A `postgres://` URL of a server to use; an embedded PostgreSQL is started when absent. */
  url: z.string().startsWith('postgres', 'expected a postgres:// URL').optional(),
  /** Port of the embedded server; 0 picks a free one. */
  port: port.default(DEFAULTS.postgres.port),
});

const bus = z.strictObject({
  /**
   * `postgres`: queue tables in a database of the system's PostgreSQL (no extra server).
   * `rabbitmq`: a RabbitMQ server over AMQP 0-9-1.
   */
  kind: z.enum(['postgres', 'rabbitmq']).default(DEFAULTS.bus.kind),
  /** For `rabbitmq`, the `amqp://` URL of the server. */
  url: z.string().startsWith('amqp', 'expected an amqp:// URL').optional(),
});

const smtp = z.strictObject({
  /** An `smtp://` or `smtps://` relay; the control plane's own SMTP sink receives mail when absent. */
  url: z
    .string()
    .regex(/^smtps?:\/\//, 'expected an smtp:// or smtps:// URL')
    .optional(),
  /** Port of the built-in sink; 0 picks a free one. */
  sinkPort: port.default(DEFAULTS.smtp.sinkPort),
});

/** The whole system spec, as written in flotilla.yaml. */
export const systemSchema = z.strictObject({
  name: dnsLabel,
  controlPlane: z
    .strictObject({
      host: loopback.default(DEFAULTS.controlPlane.host),
      port: port.default(DEFAULTS.controlPlane.port),
    })
    .default({ ...DEFAULTS.controlPlane }),
  gateway: gateway.default({
    listen: { ...DEFAULTS.gateway.listen },
    replicas: DEFAULTS.gateway.replicas,
    plugins: {},
    routes: [],
  }),
  mesh: meshSchema.default(() => meshSchema.parse({})),
  services: z
    .record(dnsLabel, service)
    .refine((s) => Object.keys(s).length > 0, 'expected at least one service'),
  infrastructure: z
    .strictObject({
      postgres: postgres.default({ port: DEFAULTS.postgres.port }),
      bus: bus.default({ kind: DEFAULTS.bus.kind }),
      smtp: smtp.default({ sinkPort: DEFAULTS.smtp.sinkPort }),
    })
    .default({
      postgres: { port: DEFAULTS.postgres.port },
      bus: { kind: DEFAULTS.bus.kind },
      smtp: { sinkPort: DEFAULTS.smtp.sinkPort },
    }),
});

export type SystemSpecInput = z.input<typeof systemSchema>;
type Parsed = z.output<typeof systemSchema>;
export type ServiceSpecParsed = Parsed['services'][string];
export type ProbeSpec = ServiceSpecParsed['probes']['liveness'];
export type CorsConfig = z.output<typeof cors>;
export type JwtConfig = z.output<typeof jwt>;
export type RateLimitConfig = z.output<typeof rateLimit>;
export type HeadersConfig = z.output<typeof headers>;
export type PluginsConfig = z.output<typeof plugins>;
export type RoutePluginsConfig = z.output<typeof routePlugins>;
export type RouteSpec = z.output<typeof route>;
export type GatewaySpec = z.output<typeof gateway>;
export type ParsedSystemSpec = Parsed;
export type SecretSpec = ServiceSpecParsed['secrets'][number];
export type ServiceEventsSpec = z.output<typeof serviceEvents>;
export type BusSpec = z.output<typeof bus>;
export type SmtpSpec = z.output<typeof smtp>;
export type {
  AuthorizationRule,
  FaultSpec,
  MeshSpec,
  MtlsMode,
  ResilienceOverride,
  ResilienceSpec,
  RetryOn,
  RetryPolicy,
  StringMatch,
  TrafficMatch,
  TrafficRule,
} from './mesh-schema.ts';
