import { MESH_DEFAULTS } from '../defaults.ts';

/**
 * The wait before reconnect number `failures` (1 for the first): 100 ms doubling up to 5 s, then
 * jittered into the upper half of that, so that every process of a system does not knock on a
 * restarted control plane in the same millisecond, yet none hammers it with near-zero waits.
 *
 * @param random a number in [0, 1)
 */
export function backoffDelayMs(failures: number, random: number): number {
  const { backoffInitialMs, backoffMaxMs } = MESH_DEFAULTS.watch;
  const ceilingMs = Math.min(backoffMaxMs, backoffInitialMs * 2 ** Math.max(0, failures - 1));
  return ceilingMs * (0.5 + random / 2);
}
