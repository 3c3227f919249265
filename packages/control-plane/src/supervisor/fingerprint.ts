import { createHash } from 'node:crypto';
import { ENV } from '@flotilla/spec';
import type { Workload } from '../types.ts';
import { childEnv } from './child-env.ts';

/** Variables that differ between processes of one instance spec, so they are no part of what it matches. */
const PER_PROCESS = new Set<string>([ENV.port, ENV.instance, ENV.instanceToken]);

/**
 * What a process of `workload`'s `version` is started with, as one SHA-256: its entry file, working
 * directory and whole environment (the control plane's URL, the data-plane token, database, bus and
 * SMTP URLs, secrets, the spec's env), leaving out only what is new for every process (its port, id
 * and instance token). A running process whose recorded fingerprint equals the current one runs
 * exactly what this spec would start, so it can be adopted; any change (a new secret, another port
 * of the control plane, an edited env) makes it differ, and the process is replaced.
 */
export function instanceFingerprint(workload: Workload, version: string, parent: NodeJS.ProcessEnv): string {
  const spec = workload.versions[version];
  if (spec === undefined) throw new RangeError(`workload ${workload.name} has no version ${version}`);
  const env = childEnv({ workload, version, instance: '', port: 0, token: '' }, parent);
  const stable = Object.entries(env)
    .filter(([name]) => !PER_PROCESS.has(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify({ entry: spec.entry, cwd: workload.cwd, env: stable }))
    .digest('hex');
}
