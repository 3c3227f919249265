/** A source of milliseconds; the policies take one so that tests can drive time by hand. */
export type Clock = () => number;

/**
 * Monotonic milliseconds. A wall clock can jump (NTP, a suspended laptop) and would end an
 * ejection early or refill a retry budget at once; `performance.now` only moves forward.
 * Wrapped because `performance.now` throws when called without its `this`.
 */
export const monotonicNow: Clock = () => performance.now();
