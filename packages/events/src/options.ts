import { EVENTS_DEFAULTS } from './defaults.ts';
import { EventsError } from './errors.ts';

/** How a failed handler is retried: exponential backoff with jitter, then the dead letters. */
export interface RetryPolicy {
  /** Handler runs per event, the first included; then it goes to the dead letters. @default 10 */
  maxAttempts: number;
  /** Delay before the second run; each later one doubles it. @default 250 */
  initialDelayMs: number;
  /** Cap of the doubling delay. @default 30_000 */
  maxDelayMs: number;
}

/** The events settings of a service, as passed to createService. */
export interface EventsOptions {
  /** How failed handlers are retried. */
  retry?: Partial<RetryPolicy>;
  /** Deliveries an instance handles at once, each holding a database connection. @default 4 */
  prefetch?: number;
}

/** EventsOptions with every default filled in. */
export interface ResolvedEventsOptions {
  readonly retry: Readonly<RetryPolicy>;
  readonly prefetch: number;
}

/** Fills in the defaults and checks the values once, at construction; the result is frozen. */
export function resolveEventsOptions(options: EventsOptions = {}): ResolvedEventsOptions {
  const retry = { ...EVENTS_DEFAULTS.retry, ...options.retry };
  const prefetch = options.prefetch ?? EVENTS_DEFAULTS.prefetch;
  wholeAtLeast('retry.maxAttempts', retry.maxAttempts, 1);
  wholeAtLeast('retry.initialDelayMs', retry.initialDelayMs, 1);
  wholeAtLeast('retry.maxDelayMs', retry.maxDelayMs, retry.initialDelayMs);
  if (retry.maxDelayMs > EVENTS_DEFAULTS.maxDelayCeilingMs) {
    throw new EventsError(
      'EVENTS_OPTIONS_INVALID',
      `events.retry.maxDelayMs must be at most ${EVENTS_DEFAULTS.maxDelayCeilingMs} (got ${retry.maxDelayMs}).`,
    );
  }
  wholeAtLeast('prefetch', prefetch, 1);
  return Object.freeze({ retry: Object.freeze(retry), prefetch });
}

function wholeAtLeast(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new EventsError(
      'EVENTS_OPTIONS_INVALID',
      `events.${name} must be a whole number >= ${min} (got ${value}).`,
    );
  }
}
