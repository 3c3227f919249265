import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SystemSpec } from '@flotilla/spec';
import { type Logger, pino } from 'pino';
import { type ApiBackend, ApiError, ApiListenError, type ApiServer, startApiServer } from './api/index.ts';
import { type BusHandle, startBus } from './bus/index.ts';
import { CONTROL_PLANE_DEFAULTS } from './defaults.ts';
import {
  checkGatewayPortAfterStart,
  claimGatewayPort,
  type GatewayPortClaim,
  GatewayPortError,
} from './gateway-port.ts';
import { LogStore } from './logs/index.ts';
import { type Mail, startMail } from './mail/index.ts';
import { MeshIdentity } from './mesh-identity.ts';
import { type PostgresHandle, startPostgres } from './postgres/index.ts';
import { buildSystemStatus, buildWorkloads, GATEWAY_WORKLOAD, Registry } from './registry/index.ts';
import {
  claimStateDir,
  ensureStateDir,
  loadOrCreateAdminToken,
  randomToken,
  readRunRecord,
  removeRunRecord,
  removeStateFile,
  resolveSecrets,
  statePaths,
  writeRunRecord,
  writeStateFile,
} from './state/index.ts';
import { type AdoptionReport, leftoverRuns, Supervisor, SupervisorError } from './supervisor/index.ts';
import type { ServiceStatus, SystemStatus, Workload } from './types.ts';
import { WatchGate, WatchStream } from './watch/index.ts';

/** How to start a control plane. */
export interface ControlPlaneOptions {
  spec: SystemSpec;
  /** Port of the admin API; 0 picks a free one. @default spec.controlPlane.port */
  adminPort?: number;
  /** Public port of the gateway; 0 picks a free one. @default spec.gateway.listen.port */
  gatewayPort?: number;
  /** The control plane's own log. @default pino at info level on stderr */
  log?: Logger;
  /** One line per start-up step done, for a person watching. */
  onProgress?: (message: string) => void;
}

/** A running control plane. */
export interface ControlPlane {
  adminUrl: string;
  gatewayUrl: string;
  adminToken: string;
  status(): SystemStatus;
  /** Stops the whole system gracefully; safe to call more than once. */
  stop(): Promise<void>;
  /** Resolves once the system has stopped, by stop() or by POST /v1/shutdown. */
  closed: Promise<void>;
  /** Instances that were not ready when start-up finished; they go on restarting with backoff. */
  failed: string[];
}

/** What has been started so far, so that a failure or a stop takes down exactly that. */
interface Parts {
  watch?: WatchStream;
  api?: ApiServer;
  gatewayPort?: GatewayPortClaim;
  postgres?: PostgresHandle;
  logs?: LogStore;
  mail?: Mail;
  bus?: BusHandle;
  supervisor?: Supervisor;
  stateFile?: true;
}

/**
 * Starts a whole system: checks local state, opens the mesh's certificate authority (unless mTLS is
 * disabled), resolves secrets, starts the SMTP sink (unless a relay is configured), opens the admin
 * API, brings up PostgreSQL and each service's database, connects the event bus and declares its
 * subscriptions, then runs every instance (each process with its own instance token) and the gateway
 * under the supervisor, pushing a new routing table to the data plane on every change of the
 * instances or of the CA's trust bundle. Any failure stops what was started and rejects with an
 * error that says what to do.
 *
 * After a control plane of the same state directory was killed, its processes are adopted where
 * they are healthy rather than restarted: `run.json` gives back the ports, the data-plane token
 * and the SMTP login they were started with, PostgreSQL is taken over as it runs, and the
 * supervisor adopts each instance whose spec fingerprint matches and that answers its liveness
 * probe (replacing the others). The watch stream holds its clients until the adopted instances are
 * in the table, so that no data-plane process ever gets a table without them.
 */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { spec } = options;
  const log = options.log ?? pino({ level: 'info' }, pino.destination({ fd: 2, sync: true }));
  const progress = options.onProgress ?? (() => {});
  const startedAt = new Date().toISOString();
  const parts: Parts = {};
  let workloads: Workload[] = [];
  let identity: MeshIdentity | undefined;
  let gatewayUrl = '';
  let stopping: Promise<void> | undefined;
  let up = false;
  let shutdownRequested = false;
  const closed = Promise.withResolvers<void>();

  // Revisions continue from the clock rather than from 1, so a data-plane process that kept a table
  // of an earlier run never sees the revision go backwards when this run starts.
  const registry = new Registry(spec, Date.now());
  const status = (): SystemStatus =>
    buildSystemStatus({
      spec,
      workloads,
      instances: parts.supervisor?.instances() ?? [],
      desiredReplicas: (workload) => parts.supervisor?.desiredReplicas(workload) ?? {},
      revision: registry.table().revision,
      startedAt,
      adminUrl: parts.api?.url ?? '',
      gatewayUrl,
      postgres: parts.postgres?.status() ?? { mode: 'none', host: null, port: null },
      mail: parts.mail,
      bus: parts.bus?.status,
      ejections: identity?.ejections() ?? new Map(),
    });
  const stop = (): Promise<void> => {
    stopping ??= shutdown(parts, spec, log).then(() => {
      process.off('exit', forceKill);
      closed.resolve();
    });
    return stopping;
  };
  // A control plane that must exit at once (a second Ctrl-C, an uncaught error) takes every process
  // group it runs with it, adopted ones included; PostgreSQL gets its fast shutdown from its own handler.
  const forceKill = () => parts.supervisor?.forceKill();

  try {
    await ensureStateDir(spec.stateDir);
    const previous = await claimStateDir(spec.stateDir);
    if (previous) log.warn({ pid: previous.pid }, 'an earlier control plane ended without stopping');
    // What a killed earlier run gave the processes it left running (ports, the data-plane token, the
    // SMTP login) is given again, so that what of them is healthy can be adopted as it runs.
    const earlier = await readRunRecord(spec.stateDir);
    const adminToken = await loadOrCreateAdminToken(spec.stateDir);
    const dataPlaneToken = earlier?.dataPlaneToken ?? randomToken();
    process.on('exit', forceKill);
    const mesh = await MeshIdentity.open({ spec, log });
    identity = mesh;
    registry.setTrustBundle(mesh.trustBundle());
    mesh.onTrustBundle((bundle) => registry.setTrustBundle(bundle));
    mesh.onCertified((ids) => registry.setCertified(ids));
    progress(
      spec.mesh.mtls === 'disable'
        ? 'mesh: mutual TLS disabled, no certificate authority'
        : `mesh: mutual TLS ${spec.mesh.mtls}, certificate authority in ${relative(spec.dir, statePaths(spec.stateDir).ca)}`,
    );
    const secrets = await resolveSecrets(spec, process.env, (service, name, path) =>
      progress(`secrets: generated ${name} for ${service} in ${relative(spec.dir, path)}`),
    );
    const mail = await startMail(spec.infrastructure.smtp, {
      stateDir: spec.stateDir,
      log,
      progress,
      earlier: earlier?.smtp ?? undefined,
    });
    parts.mail = mail;

    const logs = new LogStore({ stateDir: spec.stateDir });
    parts.logs = logs;
    const watch = new WatchStream({
      source: registry,
      heartbeatMs: CONTROL_PLANE_DEFAULTS.watchHeartbeatMs,
      log,
    });
    parts.watch = watch;
    const watchGate = new WatchGate(watch, { open: earlier === undefined });
    const backend: ApiBackend = {
      status,
      table: () => registry.table(),
      scale: (service, replicas, version) => scale(parts, status, service, replicas, version),
      logs,
      mail,
      deadLetters: () => parts.bus?.deadLetters,
      certificate: (holder, publicKeyPem) => mesh.certificate(holder, publicKeyPem),
      reportOutliers: (holder, ejected) => mesh.reportOutliers(holder, ejected),
      rotateCa: () => mesh.rotateCa(),
      // A shutdown asked for mid-start waits for the start to finish: stopping parts while later
      // steps are still starting others would leave those running.
      shutdown: () => {
        if (up) stop().catch((error: unknown) => log.error({ err: error }, 'shutdown failed'));
        else shutdownRequested = true;
      },
    };
    const listenApi = (port: number) =>
      startApiServer({
        host: spec.controlPlane.host,
        port,
        adminToken,
        dataPlaneToken,
        instanceTokens: mesh.tokens,
        backend,
        watch: watchGate,
        limits: CONTROL_PLANE_DEFAULTS.api,
        closeGraceMs: CONTROL_PLANE_DEFAULTS.apiCloseGraceMs,
        log,
      });
    const adminPort = options.adminPort ?? spec.controlPlane.port;
    // Any free port will do for 0, and the earlier run's is where its processes watch and renew.
    const api =
      adminPort === 0 && earlier !== undefined
        ? await listenApi(earlier.adminPort).catch((error: unknown) => {
            if (!(error instanceof ApiListenError) || error.code !== 'FLOTILLA_PORT_IN_USE') throw error;
            log.warn(
              { port: earlier.adminPort },
              "the earlier run's admin port is taken; its instances are replaced",
            );
            return listenApi(0);
          })
        : await listenApi(adminPort);
    parts.api = api;
    progress(`admin API: listening on ${api.url}`);
    const gatewayHost = spec.gateway.listen.host;
    // Picked once, here: every replica must get the same port to share it with SO_REUSEPORT. Held
    // until the replicas start, so that a port another program has stops `up` before PostgreSQL starts.
    parts.gatewayPort = await claimOrShareGatewayPort(
      gatewayHost,
      options.gatewayPort ?? spec.gateway.listen.port,
      spec.stateDir,
      earlier?.gatewayPort,
    );
    const gatewayPort = parts.gatewayPort.port;

    const postgres = await startPostgres(spec, {
      ...CONTROL_PLANE_DEFAULTS.postgres,
      log,
      progress,
      earlierPort: earlier?.postgres?.port,
    });
    parts.postgres = postgres;
    // Before any instance: a subscription declared now holds what producers publish while consumers start.
    parts.bus = await startBus(spec, {
      busUrl: postgres.busUrl,
      databaseUrls: postgres.databaseUrls,
      log,
      progress,
      timeouts: CONTROL_PLANE_DEFAULTS.bus,
    });

    gatewayUrl = `http://${displayHost(gatewayHost)}:${gatewayPort}`;
    workloads = buildWorkloads(spec, {
      controlUrl: api.url,
      dataPlaneToken,
      logLevel: log.level,
      secrets,
      databaseUrls: postgres.databaseUrls,
      smtpUrl: mail.smtpUrl,
      busUrl: parts.bus.url,
      gateway: {
        entry: fileURLToPath(import.meta.resolve('@flotilla/gateway/main')),
        host: gatewayHost,
        port: gatewayPort,
      },
    });

    const supervisor = new Supervisor({ workloads, logs, log, stateDir: spec.stateDir, tokens: mesh.tokens });
    parts.supervisor = supervisor;
    supervisor.onChange(() => registry.update(supervisor.instances()));
    const total = workloads.reduce(
      (sum, w) => sum + Object.values(w.versions).reduce((n, v) => n + v.replicas, 0),
      0,
    );
    await writeRunRecord(spec.stateDir, {
      adminPort: api.port,
      gatewayPort,
      dataPlaneToken,
      smtp: mail.sink,
      postgres: postgres.status().mode === 'embedded' ? { port: postgres.status().port! } : null,
    });
    const started = performance.now();
    await parts.gatewayPort.release();
    const adoption = await supervisor.adopt();
    registry.update(supervisor.instances());
    watchGate.open();
    reportAdoption(adoption, progress);
    progress(`instances: starting ${total - adoption.adopted.length}`);
    await supervisor.start();
    const adopted = new Set(adoption.adopted);
    // An adopted replica holds the gateway's port itself, ready or not: nobody else can have it.
    if (!supervisor.instances().some((i) => i.service === GATEWAY_WORKLOAD.name && adopted.has(i.id)))
      await checkGatewayPortAfterStart(
        gatewayHost,
        gatewayPort,
        supervisor.instances(),
        GATEWAY_WORKLOAD.name,
      );
    registry.update(supervisor.instances());
    // An adopted instance that is unready runs and is not being restarted: it did not fail to start.
    const failed = supervisor
      .instances()
      .filter((i) => i.state !== 'ready' && !(i.state === 'unready' && adopted.has(i.id)))
      .map((i) => i.id);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    progress(
      `instances: ${total - failed.length} of ${total} ready (${seconds} s)${failed.length > 0 ? `; not ready: ${failed.join(', ')}` : ''}`,
    );

    await writeStateFile(spec.stateDir, {
      pid: process.pid,
      adminUrl: api.url,
      gatewayUrl,
      specFile: spec.file,
      startedAt,
    });
    parts.stateFile = true;
    progress(`gateway: ${gatewayUrl}`);
    up = true;
    if (shutdownRequested) backend.shutdown();
    return { adminUrl: api.url, gatewayUrl, adminToken, status, stop, closed: closed.promise, failed };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Stops what `parts` holds, in an order that loses no work: instances first, the gateway before
 * the services (the supervisor's order: while the edge drains its in-flight requests the services
 * behind it still answer, and no new request comes in through it). The mail sink next, once no
 * service is left to send (a message being stored is finished first). The control plane's bus
 * client next (what the bus holds stays there), then PostgreSQL, once no service holds a
 * connection. The log store after the processes whose output it writes. The watch stream and the
 * API last, so that services draining keep getting tables without the endpoints that left, and
 * `flotilla status` can follow the stop. state.json goes at the very end, so that a new
 * `flotilla up` is refused until this one has let go of every port. A part that fails to stop is
 * logged and does not keep the others running.
 */
async function shutdown(parts: Parts, spec: SystemSpec, log: Logger): Promise<void> {
  const steps: [string, (() => Promise<void>) | undefined][] = [
    ['instances', parts.supervisor && (() => parts.supervisor!.stop())],
    ['gateway port', parts.gatewayPort && (() => parts.gatewayPort!.release())],
    ['mail sink', parts.mail && (() => parts.mail!.close())],
    ['event bus client', parts.bus && (() => parts.bus!.stop())],
    ['postgres', parts.postgres && (() => parts.postgres!.stop())],
    ['logs', parts.logs && (() => parts.logs!.close())],
    ['watch stream', parts.watch && (async () => parts.watch!.close())],
    ['admin API', parts.api && (() => parts.api!.close())],
    // Only a run that got as far as taking over the processes has stopped what the record describes;
    // one that failed before (another run is live, PostgreSQL would not start) leaves it for the next.
    ['run record', parts.supervisor && (() => removeRunRecord(spec.stateDir))],
    ['state file', parts.stateFile && (() => removeStateFile(spec.stateDir))],
  ];
  for (const [name, step] of steps) {
    if (!step) continue;
    try {
      await step();
    } catch (error) {
      log.error({ err: error }, `could not stop the ${name} cleanly`);
    }
  }
}

/**
 * Claims the gateway's port as claimGatewayPort does, except where the earlier run's gateway
 * replicas still hold it: they are this system's own, about to be adopted (or stopped before new
 * replicas start), so the port is shared with them rather than refused.
 */
async function claimOrShareGatewayPort(
  host: string,
  wanted: number,
  stateDir: string,
  earlierPort: number | undefined,
): Promise<GatewayPortClaim> {
  const port = wanted === 0 && earlierPort !== undefined ? earlierPort : wanted;
  try {
    return await claimGatewayPort(host, port);
  } catch (error) {
    if (!(error instanceof GatewayPortError) || port !== earlierPort) throw error;
    if (leftoverRuns(stateDir, GATEWAY_WORKLOAD.name)) return { port, release: async () => {} };
    if (wanted !== 0) throw error;
    return claimGatewayPort(host, 0);
  }
}

/** One progress line for what was adopted, one for what was replaced and why. */
function reportAdoption(adoption: AdoptionReport, progress: (message: string) => void): void {
  if (adoption.adopted.length > 0)
    progress(`instances: adopted ${adoption.adopted.length} still running from an earlier run`);
  if (adoption.replaced.length > 0)
    progress(
      `instances: replacing ${adoption.replaced.length} of an earlier run: ${adoption.replaced.map((r) => `${r.instance} (${r.reason})`).join('; ')}`,
    );
}

/** Scales through the supervisor; its refusals become API errors with the matching status. */
async function scale(
  parts: Parts,
  status: () => SystemStatus,
  service: string,
  replicas: number,
  version: string | undefined,
): Promise<ServiceStatus> {
  const supervisor = parts.supervisor;
  if (!supervisor) throw new ApiError('NOT_FOUND', { message: 'The system is still starting.' });
  try {
    await supervisor.scale(service, replicas, version);
  } catch (error) {
    if (!(error instanceof SupervisorError)) throw error;
    const code =
      error.code === 'FLOTILLA_INVALID_REPLICAS'
        ? 'BAD_REQUEST'
        : error.code === 'FLOTILLA_SUPERVISOR_STOPPED'
          ? 'UNAVAILABLE'
          : 'NOT_FOUND';
    throw new ApiError(code, { message: error.message, cause: error });
  }
  return status().services.find((s) => s.name === service)!;
}

/** A host as a client would use it in a URL: wildcard addresses become loopback, IPv6 gets brackets. */
function displayHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
