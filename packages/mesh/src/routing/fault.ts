import type { FaultSpec } from '@flotilla/spec';
import { chance } from './chance.ts';

/** What a rule's fault does to one call. */
export interface FaultDecision {
  /** Hold the request this long before sending it (response flag DI); 0 for no delay. */
  readonly delayMs: number;
  /** Answer with this status instead of calling (response flag FI), after the delay. */
  readonly abortStatus: number | undefined;
}

/** The decision for a call without a fault: shared, so that the common case allocates nothing. */
export const NO_FAULT: FaultDecision = Object.freeze({ delayMs: 0, abortStatus: undefined });

/**
 * Rolls a rule's fault for one call. Delay and abort are drawn independently, delay first, as
 * Envoy's fault filter does: a call can be delayed and then aborted.
 *
 * @param random a number in [0, 1), drawn once per part the fault has
 */
export function decideFault(fault: FaultSpec | undefined, random: () => number = Math.random): FaultDecision {
  if (fault === undefined) return NO_FAULT;
  const { delay, abort } = fault;
  const delayMs = delay !== undefined && chance(delay.percent, random) ? delay.fixedDelayMs : 0;
  const abortStatus = abort !== undefined && chance(abort.percent, random) ? abort.httpStatus : undefined;
  return delayMs === 0 && abortStatus === undefined ? NO_FAULT : { delayMs, abortStatus };
}
