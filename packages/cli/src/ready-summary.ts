import type { SystemStatus } from '@flotilla/control-plane/types';
import { formatSeconds } from './format-duration.ts';

/** An instance that was not ready when start-up finished, and where to look for why. */
export interface FailedInstance {
  id: string;
  service: string;
  /** Its state, and how its last process ended when one did: `crashloop, exited with code 1`. */
  why: string;
}

/**
 * The instances of `ids` (the control plane's own list, in the foreground), or every instance that
 * is not ready (for --detach, which only has the status), with what the status says about them.
 */
export function failedInstances(status: SystemStatus, ids?: readonly string[]): FailedInstance[] {
  const all = status.services.flatMap((s) => s.instances.map((instance) => ({ instance, service: s.name })));
  const chosen = ids
    ? all.filter(({ instance }) => ids.includes(instance.id))
    : all.filter(({ instance }) => instance.state !== 'ready');
  return chosen.map(({ instance, service }) => ({
    id: instance.id,
    service,
    why: instance.lastExit ? `${instance.state}, ${instance.lastExit.reason}` : instance.state,
  }));
}

/** The lines printed once the system is ready, in the foreground and for --detach alike. */
export function printReady(ready: {
  elapsedMs: number;
  gatewayUrl: string;
  adminUrl: string;
  failed: readonly FailedInstance[];
  fileHint: string;
}): void {
  console.log(`ready in ${formatSeconds(ready.elapsedMs)}`);
  console.log(`  gateway  ${ready.gatewayUrl}`);
  console.log(`  admin    ${ready.adminUrl}`);
  if (ready.failed.length === 0) return;
  const n = ready.failed.length;
  console.log(`  ${n} instance${n === 1 ? '' : 's'} failed to start (restarting with backoff):`);
  for (const instance of ready.failed) {
    console.log(
      `    ${instance.id}: ${instance.why}; see: flotilla logs ${instance.service}${ready.fileHint}`,
    );
  }
}
