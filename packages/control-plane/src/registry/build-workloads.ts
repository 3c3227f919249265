import { DEFAULTS, ENV, type ServiceSpec, type SystemSpec } from '@flotilla/spec';
import type { Workload } from '../types.ts';
import { INSTANCE_HOST } from './instance-host.ts';

/** What every instance needs to know beyond its spec, decided by the control plane at start. */
export interface WorkloadContext {
  controlUrl: string;
  dataPlaneToken: string;
  logLevel: string;
  /** Each service's resolved secrets by name. */
  secrets: Record<string, Record<string, string>>;
  /** DATABASE_URL of each service with `database: true`. */
  databaseUrls: Record<string, string>;
  /** FLOTILLA_SMTP_URL of every service: the built-in sink's URL, or the configured relay's. */
  smtpUrl: string;
  /** FLOTILLA_BUS_URL of the services with `events`; undefined when none has. */
  busUrl: string | undefined;
  /** The gateway's entry file and the one public listener all its replicas share. */
  gateway: { entry: string; host: string; port: number };
}

/** Name of the gateway's workload and the version its instances report. */
export const GATEWAY_WORKLOAD = { name: 'gateway', version: DEFAULTS.service.version } as const;

/**
 * The supervisor's workloads for a spec: one per service and the gateway. Pure. The instance
 * contract's variables are written after the service's own env and secrets, so a service cannot
 * mistakenly override who it is or where the control plane is.
 */
export function buildWorkloads(spec: SystemSpec, context: WorkloadContext): Workload[] {
  const common = {
    [ENV.system]: spec.name,
    [ENV.controlUrl]: context.controlUrl,
    [ENV.dataPlaneToken]: context.dataPlaneToken,
    [ENV.logLevel]: context.logLevel,
    [ENV.host]: INSTANCE_HOST,
  };
  const services = Object.entries(spec.services).map(([name, service]) =>
    serviceWorkload(name, service, context, common),
  );
  const gateway: Workload = {
    name: GATEWAY_WORKLOAD.name,
    kind: 'gateway',
    cwd: spec.dir,
    versions: {
      [GATEWAY_WORKLOAD.version]: { replicas: spec.gateway.replicas, entry: context.gateway.entry, env: {} },
    },
    env: {
      ...common,
      [ENV.service]: GATEWAY_WORKLOAD.name,
      [ENV.gracePeriodMs]: String(DEFAULTS.service.terminationGracePeriodMs),
      [ENV.gatewayHost]: context.gateway.host,
      [ENV.gatewayPort]: String(context.gateway.port),
    },
    probes: { liveness: { ...DEFAULTS.service.liveness }, readiness: { ...DEFAULTS.service.readiness } },
    terminationGracePeriodMs: DEFAULTS.service.terminationGracePeriodMs,
    startupTimeoutMs: DEFAULTS.service.startupTimeoutMs,
  };
  return [...services, gateway];
}

function serviceWorkload(
  name: string,
  service: ServiceSpec,
  context: WorkloadContext,
  common: Record<string, string>,
): Workload {
  const databaseUrl = context.databaseUrls[name];
  return {
    name,
    kind: 'service',
    cwd: service.dir,
    versions: Object.fromEntries(
      Object.entries(service.versions).map(([version, v]) => [
        version,
        { replicas: v.replicas, entry: v.entry, env: { ...v.env } },
      ]),
    ),
    env: {
      ...service.env,
      ...context.secrets[name],
      ...common,
      [ENV.service]: name,
      [ENV.gracePeriodMs]: String(service.terminationGracePeriodMs),
      [ENV.smtpUrl]: context.smtpUrl,
      ...(databaseUrl === undefined ? {} : { [ENV.databaseUrl]: databaseUrl }),
      // Only to services that use the bus: the URL carries the bus's credentials.
      ...(service.events && context.busUrl !== undefined ? { [ENV.busUrl]: context.busUrl } : {}),
    },
    probes: { liveness: { ...service.probes.liveness }, readiness: { ...service.probes.readiness } },
    terminationGracePeriodMs: service.terminationGracePeriodMs,
    startupTimeoutMs: service.startupTimeoutMs,
  };
}
