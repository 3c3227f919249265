import type { SendOptions } from './bus.ts';
import { EVENTS_DEFAULTS } from './defaults.ts';
import { EventsError } from './errors.ts';

/** SendOptions with defaults filled in, checked the same way by every bus. */
export function checkSend(options: SendOptions): { attempt: number; delayMs: number } {
  const attempt = options.attempt ?? 1;
  const delayMs = Math.ceil(options.delayMs ?? 0);
  if (!Number.isSafeInteger(attempt) || attempt < 1) {
    throw new EventsError('EVENTS_OPTIONS_INVALID', `attempt must be a whole number >= 1 (got ${attempt}).`);
  }
  if (!(delayMs >= 0 && delayMs <= EVENTS_DEFAULTS.maxDelayCeilingMs)) {
    throw new EventsError(
      'EVENTS_OPTIONS_INVALID',
      `delayMs must be between 0 and ${EVENTS_DEFAULTS.maxDelayCeilingMs} (got ${options.delayMs}).`,
    );
  }
  return { attempt, delayMs };
}

/** The prefetch of a consume(), checked the same way by every bus. */
export function resolvePrefetch(prefetch: number = EVENTS_DEFAULTS.prefetch): number {
  if (!Number.isSafeInteger(prefetch) || prefetch < 1 || prefetch > 65_535) {
    throw new EventsError(
      'EVENTS_OPTIONS_INVALID',
      `prefetch must be a whole number from 1 to 65535 (got ${prefetch}).`,
    );
  }
  return prefetch;
}
