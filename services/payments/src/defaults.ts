/** Every default of the payments service, in one place. Units are in the names. */
export const PAYMENTS_DEFAULTS = {
  /** Largest amount one charge may take: 1,000,000.00 in the charge's currency. */
  maxAmountCents: 100_000_000,
  /** What `Retry-After` tells a caller whose charge the processor could not take this time. */
  retryAfterS: 1,
} as const;
