import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer } from 'node:http';
import type { EventsOptions } from '@flotilla/events';
import { type CallScope, createMeshClient, type MeshClient } from '@flotilla/mesh';
import { ENV, type InstanceIdentity, readInstanceEnv } from '@flotilla/spec';
import type { Pool, PoolClient } from 'pg';
import type { DestinationStream, Logger } from 'pino';
import { type BackgroundTask, keepRunning } from './background.ts';
import { ConnectionFront } from './connection-front.ts';
import type { BodyOf, Context, Handler, QueryOf, RouteOptions, RouteParams } from './context.ts';
import { createPool } from './database.ts';
import { RUNTIME_DEFAULTS } from './defaults.ts';
import { RuntimeError } from './errors.ts';
import { createEventsRuntime, type EventsRuntime, type ServiceEvents } from './events.ts';
import { InboundGuard } from './inbound-guard.ts';
import { InboundMesh } from './inbound-mesh.ts';
import { createLogger } from './logger.ts';
import { MeshMetrics } from './mesh-metrics.ts';
import { collectProcessMetrics, METRICS_CONTENT_TYPE, Registry } from './metrics/index.ts';
import { migrate } from './migrations.ts';
import { reply } from './reply.ts';
import { createRequestListener, type RouteEntry } from './request-listener.ts';
import { Router } from './router.ts';
import { drain } from './shutdown.ts';
import { runTransaction, type TransactionOptions } from './transaction.ts';
import type { StandardSchema } from './validation.ts';

/** How a service is built. Everything about where it runs comes from the instance environment. */
export interface ServiceOptions {
  /** Service name, used when FLOTILLA_SERVICE is unset (a plain `node main.ts`). */
  name: string;
  /** Gives the service `db`, a pool on DATABASE_URL, and applies the migrations of `migrationsDir` at start. */
  database?: { migrationsDir?: string | URL };
  /**
   * Gives the service `events`: an outbox to publish through and an inbox to handle events
   * through, both in its database (so `database` is required), and a bus on FLOTILLA_BUS_URL.
   */
  events?: EventsOptions;
  /** Largest JSON body accepted. @default 1 MiB */
  bodyLimitBytes?: number;
  /** Where the instance contract, DATABASE_URL and settings are read from. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Where log lines go. @default stdout */
  logDestination?: DestinationStream;
}

/** Registers a handler for one method; the path's `:params` type `ctx.params`, schemas type body and query. */
export interface RouteMethod {
  <const P extends string>(path: P, handler: Handler<RouteParams<P>, unknown, URLSearchParams>): void;
  <
    const P extends string,
    B extends StandardSchema | undefined = undefined,
    Q extends StandardSchema | undefined = undefined,
  >(
    path: P,
    options: RouteOptions<B, Q>,
    handler: Handler<RouteParams<P>, BodyOf<B>, QueryOf<Q>>,
  ): void;
}

/** A service under Flotilla: routes, probes, metrics, logs, database and graceful shutdown. */
export interface Service {
  readonly identity: InstanceIdentity;
  readonly log: Logger;
  readonly metrics: Registry;
  /** The PostgreSQL pool; only for services created with `database`. */
  readonly db: Pool;
  /** Publishing through the outbox and handling through the inbox; only for services created with `events`. */
  readonly events: ServiceEvents;
  /**
   * The client for calling other services by name; only under Flotilla (FLOTILLA_CONTROL_URL set).
   * A call made while handling a request carries that request on: its trace and baggage, its
   * version pin, what is left of its deadline, and its cancellation (`ctx.signal`).
   */
  readonly mesh: MeshClient;
  /** The port the server listens on, once start() has resolved. */
  readonly port: number;
  /** Whether `/readyz` answers 200 now. */
  readonly ready: boolean;
  readonly get: RouteMethod;
  readonly post: RouteMethod;
  readonly put: RouteMethod;
  readonly patch: RouteMethod;
  readonly delete: RouteMethod;
  /**
   * Listens on HOST:PORT, applies migrations, creates the event tables, declares the event
   * subscription and starts the outbox relay and, under Flotilla, waits for the first routing
   * table of the mesh and, when it turns mutual TLS on, for the instance's certificate from the
   * control plane, then turns ready and starts handling events. Installs SIGTERM and SIGINT
   * handlers that drain and exit (0 when drained in time, 1 when the grace period cut requests);
   * a second signal ends the process at once.
   */
  start(): Promise<void>;
  /**
   * Runs `work` in a transaction on one client of `db`: committed when it resolves, rolled back
   * and rethrown when it throws. Pass the client to events.publish to publish with the change.
   */
  transaction<T>(work: (tx: PoolClient) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Runs `task` for as long as the service serves: started once it is ready, started again a
   * moment after it fails, and stopped through its signal when the service stops, which waits for
   * it before the database closes. Register before start().
   */
  background(name: string, task: BackgroundTask): void;
  /** Turns readiness off or back on, for a service that knows it cannot serve for a while. */
  setReady(ready: boolean): void;
  /** Drains like SIGTERM without exiting; resolves true when everything finished within the grace period. */
  stop(): Promise<boolean>;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Builds a service. Nothing listens or connects until start(). */
export function createService(options: ServiceOptions): Service {
  const env = options.env ?? process.env;
  const identity = readInstanceEnv(env, options.name);
  const log = createLogger(identity, options.logDestination);
  const bodyLimitBytes = options.bodyLimitBytes ?? RUNTIME_DEFAULTS.bodyLimitBytes;
  if (!Number.isSafeInteger(bodyLimitBytes) || bodyLimitBytes < 0) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_INVALID',
      `bodyLimitBytes must be a whole number >= 0 (got ${bodyLimitBytes})`,
    );
  }
  if (options.events && !options.database) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_INVALID',
      `Service ${identity.service} uses events but has no database: the outbox and inbox live in the service's database, so pass database: {} too.`,
    );
  }
  const pool = options.database ? createPool(env, identity, log) : undefined;
  const migrationsDir = options.database?.migrationsDir;

  const metrics = new Registry();
  const labelNames = ['method', 'route', 'code'] as const;
  const requests = metrics.counter({
    name: 'http_server_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code (0: not completed).',
    labelNames,
  });
  const durations = metrics.histogram({
    name: 'http_server_request_duration_seconds',
    help: 'Time from request arrival to the end of the response, in seconds.',
    labelNames,
    buckets: RUNTIME_DEFAULTS.requestDurationBucketsS,
  });

  const events: EventsRuntime | undefined =
    pool && options.events
      ? createEventsRuntime({ pool, identity, options: options.events, env, log, metrics })
      : undefined;

  const tasks: { name: string; task: BackgroundTask }[] = [];
  const stopTasks = new AbortController();
  let runningTasks: Promise<void>[] = [];

  const router = new Router<RouteEntry>();
  const inflight = new Set<Context>();
  let phase: 'created' | 'starting' | 'serving' = 'created';
  let manuallyReady = true;
  let stopping: Promise<boolean> | undefined;
  let stopProcessMetrics: (() => void) | undefined;
  let mesh: MeshClient | undefined;
  let inbound: InboundMesh | undefined;
  let stopCountingOutbound: (() => void) | undefined;

  // Under Flotilla the door is shut (strict) until the first routing table says otherwise.
  const guard = new InboundGuard(identity.service, identity.controlUrl ? 'strict' : 'disable', metrics);
  const meshMetrics = new MeshMetrics(metrics, identity);
  // Only a service with a mesh has calls for a scope to reach.
  const scopes = identity.controlUrl ? new AsyncLocalStorage<CallScope>() : undefined;
  const instanceToken = env[ENV.instanceToken] || undefined;
  // The token gets certificates in this instance's name: no child process of a handler inherits it.
  if (env === process.env) delete process.env[ENV.instanceToken];

  const front: ConnectionFront = new ConnectionFront(
    createServer(
      createRequestListener({
        router,
        log,
        requests,
        durations,
        bodyLimitBytes,
        inflight,
        stopping: () => stopping !== undefined,
        onDone: () => {
          if (stopping) front.closeIdleConnections();
        },
        guard,
        meshMetrics,
        scopes,
        affinity: () => inbound?.affinity(),
      }),
    ),
    { log, firstByteTimeoutMs: RUNTIME_DEFAULTS.firstByteTimeoutMs },
  );

  const notReadyReason = (): string | undefined => {
    if (stopping) return 'stopping';
    if (phase !== 'serving') return 'starting';
    return manuallyReady ? undefined : 'set unready';
  };

  const route =
    (method: string): RouteMethod =>
    (path: string, ...rest: unknown[]) => {
      const [routeOptions, handler] = (rest.length === 1 ? [{}, rest[0]] : rest) as [
        RouteOptions<StandardSchema | undefined, StandardSchema | undefined>,
        RouteEntry['handler'],
      ];
      router.add(method, path, { handler, body: routeOptions.body, query: routeOptions.query, quiet: false });
    };

  const quiet = (handler: RouteEntry['handler']): RouteEntry => ({
    handler,
    body: undefined,
    query: undefined,
    quiet: true,
  });
  router.add(
    'GET',
    '/healthz',
    quiet(() => ({ status: 'ok' })),
  );
  router.add(
    'GET',
    '/readyz',
    quiet(() => {
      const reason = notReadyReason();
      return reason ? reply(503, { status: 'not ready', reason }) : { status: 'ready' };
    }),
  );
  router.add(
    'GET',
    '/metrics',
    quiet((ctx) => {
      const text = metrics.expose();
      ctx.res.writeHead(200, {
        'content-type': METRICS_CONTENT_TYPE,
        'content-length': Buffer.byteLength(text),
      });
      ctx.res.end(text);
    }),
  );

  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'signal received: draining');
    void service.stop().then((drained) => process.exit(drained ? 0 : 1));
  };

  const shutdown = async (): Promise<boolean> => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
    log.info({ inflight: inflight.size, grace_ms: identity.gracePeriodMs }, 'shutting down');
    // Event handlers finish alongside requests; the relay keeps publishing what those requests
    // commit until the last one is done, and the pool closes after both.
    const consumersStopped = events?.stopConsuming();
    stopTasks.abort();
    const drained = await drain({
      server: front,
      inflight,
      graceMs: identity.gracePeriodMs,
      log,
      release: async () => {
        await Promise.all([consumersStopped, ...runningTasks]);
        await events?.close();
        stopCountingOutbound?.();
        await Promise.all([pool?.end(), mesh?.close(), inbound?.close()]);
      },
    });
    stopProcessMetrics?.();
    if (drained) log.info('stopped');
    return drained;
  };

  const service: Service = {
    identity,
    log,
    metrics,
    get db(): Pool {
      if (!pool) {
        throw new RuntimeError(
          'FLOTILLA_NO_DATABASE',
          `Service ${identity.service} has no database: pass database: {} to createService.`,
        );
      }
      return pool;
    },
    get events(): ServiceEvents {
      if (!events) {
        throw new RuntimeError(
          'FLOTILLA_NO_EVENTS',
          `Service ${identity.service} has no events: pass events: {} (and database: {}) to createService.`,
        );
      }
      return events.api;
    },
    get mesh(): MeshClient {
      if (!mesh) {
        if (!identity.controlUrl) {
          throw new RuntimeError(
            'FLOTILLA_CONFIG_MISSING',
            `service.mesh needs ${ENV.controlUrl}, which flotilla up sets; outside Flotilla call other services by URL.`,
          );
        }
        mesh = createMeshClient({
          source: { workload: identity.service, version: identity.version },
          controlUrl: identity.controlUrl,
          token: identity.dataPlaneToken,
          log,
          scope: () => scopes?.getStore(),
          instance: instanceToken === undefined ? undefined : { id: identity.instance, token: instanceToken },
        });
        inbound = new InboundMesh({
          identity,
          controlUrl: identity.controlUrl,
          instanceToken,
          mesh,
          guard,
          front,
          log,
        });
        stopCountingOutbound = meshMetrics.countOutbound();
      }
      return mesh;
    },
    get port(): number {
      const address = front.address();
      if (!address)
        throw new RuntimeError(
          'FLOTILLA_SERVICE_STATE',
          'The service is not listening: await start() first.',
        );
      return address.port;
    },
    get ready(): boolean {
      return notReadyReason() === undefined;
    },
    get: route('GET'),
    post: route('POST'),
    put: route('PUT'),
    patch: route('PATCH'),
    delete: route('DELETE'),

    async start() {
      if (phase !== 'created' || stopping) {
        throw new RuntimeError('FLOTILLA_SERVICE_STATE', 'start() can be called once, before stop().');
      }
      phase = 'starting';
      try {
        stopProcessMetrics = collectProcessMetrics(metrics);
        await front.listen(identity.port, identity.host);
        for (const signal of SIGNALS) process.on(signal, onSignal);
        log.info({ host: identity.host, port: service.port }, 'listening');
        // Probes are answered meanwhile, so a long migration does not fail liveness. Under
        // Flotilla an instance is not ready before it knows where the other services are.
        await Promise.all([
          (async () => {
            if (pool && migrationsDir) await migrate(pool, migrationsDir, log);
            await events?.start();
          })(),
          identity.controlUrl ? service.mesh.ready().then(() => inbound?.ready()) : undefined,
        ]);
        phase = 'serving';
        log.info('ready');
        // A stop() that came while starting has already stopped consuming: do not start it after.
        if (!stopping) {
          await events?.consume();
          runningTasks = tasks.map(({ name, task }) => keepRunning(name, task, stopTasks.signal, log));
        }
      } catch (err) {
        log.fatal({ err }, 'start-up failed');
        await service.stop();
        throw err;
      }
    },

    transaction(work, transactionOptions) {
      return runTransaction(service.db, work, transactionOptions);
    },

    background(name, task) {
      if (phase !== 'created') {
        throw new RuntimeError(
          'FLOTILLA_SERVICE_STATE',
          `Register background task "${name}" before start().`,
        );
      }
      tasks.push({ name, task });
    },

    setReady(ready: boolean) {
      manuallyReady = ready;
      log.info({ ready }, 'readiness set');
    },

    stop() {
      stopping ??= shutdown();
      return stopping;
    },
  };
  return service;
}
