import { describe, expect, it } from 'vitest';
import { backoffMs } from './backoff.ts';
import { RetryBudget, type RetryBudgetPolicy } from './retry-budget.ts';

const ENVOY_LIKE: RetryBudgetPolicy = { percent: 20, minRetriesPerSecond: 10 };

function budgetWithClock(policy: RetryBudgetPolicy = ENVOY_LIKE) {
  const clock = { ms: 0 };
  const budget = new RetryBudget(policy, { now: () => clock.ms });
  return { budget, clock };
}

/**
 * New calls whose first try fails at once ask to retry, until the budget refuses (the refused call
 * ends, as a mesh call does) or `limit` retries are granted.
 */
function askUntilRefused(budget: RetryBudget, limit = Number.POSITIVE_INFINITY): number {
  let granted = 0;
  while (granted < limit) {
    budget.requestStarted();
    if (!budget.tryAcquireRetry()) {
      budget.requestEnded();
      return granted;
    }
    granted++;
  }
  return granted;
}

describe('RetryBudget', () => {
  it('grants 20% of 100 first tries in flight, plus the 10 tokens of its bucket, then refuses', () => {
    const { budget } = budgetWithClock();
    for (let i = 0; i < 100; i++) budget.requestStarted();
    expect(askUntilRefused(budget)).toBe(20 + 10);
    expect(budget.activeRetries).toBe(30);
    expect(budget.exhausted).toBe(1);
  });

  it('counts every refusal in exhausted', () => {
    const { budget } = budgetWithClock({ percent: 20, minRetriesPerSecond: 0 });
    for (let i = 0; i < 10; i++) budget.requestStarted();
    const answers = Array.from({ length: 5 }, () => budget.tryAcquireRetry());
    expect(answers).toEqual([true, false, false, false, false]);
    expect(budget.exhausted).toBe(4);
  });

  it('does not count retrying calls in the base: 100 calls that all fail at once get a sixth', () => {
    const { budget } = budgetWithClock({ percent: 20, minRetriesPerSecond: 0 });
    for (let i = 0; i < 100; i++) budget.requestStarted();
    let granted = 0;
    for (let i = 0; i < 100; i++) if (budget.tryAcquireRetry()) granted++;
    // 16 retrying calls against 84 on their first try: 16 <= 0.2 * 84 < 17.
    expect(granted).toBe(16);
  });

  it('grants from the percentage again once retries end', () => {
    const { budget } = budgetWithClock({ percent: 20, minRetriesPerSecond: 0 });
    for (let i = 0; i < 100; i++) budget.requestStarted();
    expect(askUntilRefused(budget)).toBe(20);
    budget.retryEnded();
    budget.requestEnded();
    budget.requestStarted();
    expect(budget.tryAcquireRetry()).toBe(true);
  });

  it('lets a quiet caller, one call in flight, retry about minRetriesPerSecond times a second', () => {
    const { budget, clock } = budgetWithClock();
    budget.requestStarted();
    let granted = 0;
    // One retry asked every 10 ms for 10 s, each ending at once.
    for (clock.ms = 0; clock.ms < 10_000; clock.ms += 10) {
      if (budget.tryAcquireRetry()) {
        granted++;
        budget.retryEnded();
      }
    }
    // 10 a second for 10 s, plus the full bucket it starts with.
    expect(granted).toBeGreaterThanOrEqual(100);
    expect(granted).toBeLessThanOrEqual(110);
    expect(budget.exhausted).toBe(1000 - granted);
  });

  it('never lets the bucket hold more than a second of tokens, however long the caller was quiet', () => {
    const { budget, clock } = budgetWithClock();
    budget.requestStarted();
    clock.ms = 3_600_000;
    expect(askUntilRefused(budget)).toBe(10);
  });

  it('still grants one retry now and then with a fractional rate', () => {
    const { budget, clock } = budgetWithClock({ percent: 0, minRetriesPerSecond: 0.5 });
    budget.requestStarted();
    expect(budget.tryAcquireRetry()).toBe(true);
    expect(budget.tryAcquireRetry()).toBe(false);
    clock.ms = 1_999;
    expect(budget.tryAcquireRetry()).toBe(false);
    clock.ms = 2_000;
    expect(budget.tryAcquireRetry()).toBe(true);
  });

  it('grants nothing with percent 0 and no minimum rate', () => {
    const { budget, clock } = budgetWithClock({ percent: 0, minRetriesPerSecond: 0 });
    for (let i = 0; i < 1000; i++) budget.requestStarted();
    clock.ms = 60_000;
    expect(budget.tryAcquireRetry()).toBe(false);
  });

  it('keeps its counts when a new policy arrives, and caps the bucket to the new rate', () => {
    const { budget } = budgetWithClock();
    for (let i = 0; i < 100; i++) budget.requestStarted();
    expect(askUntilRefused(budget, 20)).toBe(20);
    budget.configure({ percent: 50, minRetriesPerSecond: 2 });
    expect(budget.activeRequests).toBe(120);
    expect(budget.activeRetries).toBe(20);
    // 50% of 100 first tries is 50: 30 more, then the 2 tokens left of 10.
    expect(askUntilRefused(budget)).toBe(30 + 2);
  });
});

/** A seeded uniform source in [0, 1) (mulberry32), so the simulation is the same on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Outage {
  callsPerS: number;
  /** How long each try takes to fail: a quick 503, or a per-try timeout. */
  failAfterMs: number;
}

/**
 * A destination that fails every try for 20 s while calls arrive at a steady rate; each call
 * retries up to twice with the default backoff when the budget allows, as the mesh call will.
 * Simulated in 1 ms steps on a fake clock. Returns the retries granted, the drain included.
 */
function simulateOutage({ callsPerS, failAfterMs }: Outage): number {
  const durationMs = 20_000;
  const attempts = 2;
  const clock = { ms: 0 };
  const budget = new RetryBudget(ENVOY_LIKE, { now: () => clock.ms });
  const random = seeded(42);
  const due: (Array<() => void> | undefined)[] = [];
  let scheduled = 0;
  let retries = 0;
  const at = (ms: number, event: () => void) => {
    const slot = due[ms];
    if (slot === undefined) due[ms] = [event];
    else slot.push(event);
    scheduled++;
  };
  const tryFailed = (retriesSoFar: number) => {
    if (retriesSoFar < attempts && budget.tryAcquireRetry()) {
      retries++;
      const waitMs = Math.ceil(backoffMs(retriesSoFar + 1, 25, 250, random));
      at(clock.ms + waitMs + failAfterMs, () => {
        budget.retryEnded();
        tryFailed(retriesSoFar + 1);
      });
    } else {
      budget.requestEnded();
    }
  };
  let nextArrivalMs = 0;
  for (clock.ms = 0; clock.ms < durationMs || scheduled > 0; clock.ms++) {
    while (nextArrivalMs <= clock.ms && nextArrivalMs < durationMs) {
      budget.requestStarted();
      at(clock.ms + failAfterMs, () => tryFailed(0));
      nextArrivalMs += 1000 / callsPerS;
    }
    const events = due[clock.ms];
    if (events === undefined) continue;
    due[clock.ms] = undefined;
    for (const event of events) event();
    scheduled -= events.length;
  }
  expect(budget.activeRequests).toBe(0);
  expect(budget.activeRetries).toBe(0);
  return retries;
}

describe('RetryBudget during a 20 s outage with attempts 2', () => {
  it.each<Outage>([
    { callsPerS: 1000, failAfterMs: 2 },
    { callsPerS: 1000, failAfterMs: 50 },
    { callsPerS: 200, failAfterMs: 1000 },
    { callsPerS: 2000, failAfterMs: 500 },
    { callsPerS: 20, failAfterMs: 100 },
    { callsPerS: 5000, failAfterMs: 1000 },
  ])(
    'keeps retries under 20% of calls plus 10/s ($callsPerS calls/s, tries fail after $failAfterMs ms)',
    (outage) => {
      const retries = simulateOutage(outage);
      const calls = outage.callsPerS * 20;
      // Without a budget every call would retry twice: 2 * calls. The only slack is the full bucket
      // the budget starts with. (Counting retrying calls in the base, as Envoy does, sends about 24%
      // at 2000 calls/s failing after 500 ms, and breaks this bound.)
      const bound = 0.2 * calls + 10 * 20 + 10;
      expect(retries).toBeLessThanOrEqual(bound);
      expect(retries).toBeGreaterThan(10 * 20);
    },
  );
});
