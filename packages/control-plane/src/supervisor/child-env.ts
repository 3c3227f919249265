import { ENV } from '@flotilla/spec';
import { SUPERVISOR_DEFAULTS } from '../defaults.ts';
import type { Workload } from '../types.ts';

/** Who a process is and where it listens. */
export interface ChildIdentity {
  workload: Workload;
  version: string;
  instance: string;
  port: number;
  /** The process's own instance token. */
  token: string;
}

/**
 * The environment of an instance's process, later layers winning: the few variables a process
 * needs from the control plane's own environment (nothing else, as it may hold secrets), the
 * workload's env, the version's env, then the instance contract, which no spec may override.
 */
export function childEnv(identity: ChildIdentity, parent: NodeJS.ProcessEnv): Record<string, string> {
  const { workload, version, instance, port, token } = identity;
  const env: Record<string, string> = {};
  for (const name of SUPERVISOR_DEFAULTS.inheritedEnv) {
    const value = parent[name];
    if (value !== undefined) env[name] = value;
  }
  return {
    ...env,
    [ENV.service]: workload.name,
    ...workload.env,
    ...workload.versions[version]?.env,
    [ENV.version]: version,
    [ENV.instance]: instance,
    [ENV.host]: SUPERVISOR_DEFAULTS.host,
    [ENV.port]: String(port),
    [ENV.gracePeriodMs]: String(workload.terminationGracePeriodMs),
    [ENV.instanceToken]: token,
  };
}
