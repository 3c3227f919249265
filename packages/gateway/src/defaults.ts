/**
 * Defaults of the gateway core, in one place; units are in the names. Plugin defaults are part of
 * the system spec and live in `@flotilla/spec`'s DEFAULTS.
 */
export const GATEWAY_DEFAULTS = {
  /** The gateway's workload name in metrics labels and as a mesh source. */
  workload: 'gateway',
  /** Log lines buffered within one event-loop turn before they are written anyway. */
  logBatchMaxBytes: 64 * 1024,
  /** Shutdown cuts the last connections this long before the grace period ends, to exit inside it. */
  shutdownMarginMs: 250,
} as const;
