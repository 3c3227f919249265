/** Defaults of the log store. Units are in the names. */
export const LOG_DEFAULTS = {
  /** Lines kept in memory per instance for `tail`; older ones live only in the instance's file. */
  ringLines: 1000,
  /** Longest line kept whole; a longer one is cut into pieces so a runaway writer cannot exhaust memory. */
  maxLineBytes: 64 * 1024,
} as const;
