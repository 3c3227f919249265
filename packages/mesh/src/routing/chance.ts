import type { TrafficRule } from '@flotilla/spec';

/**
 * Whether this request is among `percent` percent of requests. 0 is never and 100 always, without
 * drawing: a rule at 100% must not depend on `random` staying below 1.
 *
 * @param random a number in [0, 1)
 */
export function chance(percent: number, random: () => number): boolean {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  return random() * 100 < percent;
}

/** Whether a matched rule's mirror copies this request; false for a rule without one. */
export function shouldMirror(mirror: TrafficRule['mirror'], random: () => number = Math.random): boolean {
  return mirror !== undefined && chance(mirror.percent, random);
}
