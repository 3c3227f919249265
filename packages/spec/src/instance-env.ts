/**
 * The instance contract: the environment every instance is started with. The control plane
 * writes it; the runtime, the mesh client and the gateway read it. Names are part of the
 * contract, so they live here and nowhere else.
 */
export const ENV = {
  system: 'FLOTILLA_SYSTEM',
  service: 'FLOTILLA_SERVICE',
  version: 'FLOTILLA_VERSION',
  instance: 'FLOTILLA_INSTANCE',
  host: 'HOST',
  port: 'PORT',
  controlUrl: 'FLOTILLA_CONTROL_URL',
  /** Bearer token for the data-plane API (watch stream, table); not the admin token. */
  dataPlaneToken: 'FLOTILLA_DATAPLANE_TOKEN',
  logLevel: 'FLOTILLA_LOG_LEVEL',
  gracePeriodMs: 'FLOTILLA_GRACE_PERIOD_MS',
  databaseUrl: 'DATABASE_URL',
  /** Services with `events`: the bus, as a `postgres://` or `amqp://` URL. */
  busUrl: 'FLOTILLA_BUS_URL',
  /** Where a service sends mail: an `smtp://` URL (the control plane's sink, or the configured relay). */
  smtpUrl: 'FLOTILLA_SMTP_URL',
  /** This instance's own secret, which it alone holds: it asks for certificates and reports with it. */
  instanceToken: 'FLOTILLA_INSTANCE_TOKEN',
  /** Gateway instances only: the shared public listener (SO_REUSEPORT across replicas). */
  gatewayHost: 'FLOTILLA_GATEWAY_HOST',
  gatewayPort: 'FLOTILLA_GATEWAY_PORT',
} as const;

/** Who an instance is, read from its environment. */
export interface InstanceIdentity {
  system: string;
  service: string;
  version: string;
  instance: string;
  host: string;
  port: number;
  controlUrl: string | undefined;
  dataPlaneToken: string | undefined;
  logLevel: string;
  gracePeriodMs: number;
}

/** Reads the instance contract. Outside Flotilla (a plain `node main.ts`), sane local defaults apply. */
export function readInstanceEnv(
  env: NodeJS.ProcessEnv = process.env,
  fallbackService = 'service',
): InstanceIdentity {
  const service = env[ENV.service] ?? fallbackService;
  const version = env[ENV.version] ?? 'v1';
  const port = Number(env[ENV.port] ?? 0);
  const grace = Number(env[ENV.gracePeriodMs] ?? 10_000);
  return {
    system: env[ENV.system] ?? 'local',
    service,
    version,
    instance: env[ENV.instance] ?? `${service}-${version}-${process.pid}`,
    host: env[ENV.host] ?? '127.0.0.1',
    port: Number.isInteger(port) && port >= 0 ? port : 0,
    controlUrl: env[ENV.controlUrl] || undefined,
    dataPlaneToken: env[ENV.dataPlaneToken] || undefined,
    logLevel: env[ENV.logLevel] ?? 'info',
    gracePeriodMs: Number.isFinite(grace) && grace >= 0 ? grace : 10_000,
  };
}
