import type { UpOptions } from './commands/up.ts';
import { CliError } from './errors.ts';

/** What the control plane's port errors carry; its own messages name the spec key, not the flags. */
interface PortError {
  code: string;
  host?: string;
  port?: number;
  cause?: { code?: string };
}

/**
 * A port of `up` that another program holds, as one line that names the port and the flag of `up`
 * that moves it (the control plane only knows the spec's keys); any other error as it is.
 */
export function portInUse(error: unknown, options: UpOptions): unknown {
  const { code, host, port, cause } = (error ?? {}) as PortError;
  const why = cause?.code === 'EACCES' ? 'needs privileges' : 'is in use by another program';
  if (code === 'FLOTILLA_GATEWAY_PORT_IN_USE' && host !== undefined && port !== undefined) {
    return new CliError(
      code,
      `port ${port} on ${host} ${why}, so the gateway cannot listen there; choose another with --gateway-port <N> (0 picks a free one) or gateway.listen.port in the spec`,
      { cause: error },
    );
  }
  if (code === 'FLOTILLA_PORT_IN_USE') {
    const { controlPlane } = options.system;
    return new CliError(
      code,
      `port ${options.adminPort ?? controlPlane.port} on ${controlPlane.host} ${why}, so the admin API cannot listen there; choose another with --admin-port <N> (0 picks a free one) or controlPlane.port in the spec`,
      { cause: error },
    );
  }
  return error;
}
