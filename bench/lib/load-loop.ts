/**
 * The two ways the benchmark loads the shop, each with a discarded warm-up before its measured window.
 *
 * - Closed loop: a fixed number of virtual users, each starting its next iteration when the last
 *   one answered. Throughput is what the system gives; a slow answer delays the requests behind it,
 *   which are then never sent, so latencies look better than a crowd would see (coordinated omission).
 * - Open loop: iterations arrive at a fixed rate whatever the system does, as independent clients
 *   would, and each iteration's first request is timed from when it was due, not from when it left,
 *   so time spent waiting for a connection or behind a stalled generator counts too.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { LatencyLog, type OpSummary } from './latency.ts';

/** Sends one request of an iteration, timing it and recording it when it was due inside the window. */
export type Timed = <T extends { errorKind: string | null }>(
  op: string,
  send: () => Promise<T>,
) => Promise<T>;

/** One iteration of virtual user `user`: the requests it sends, each through `timed`. Must not throw. */
export type Iteration = (user: number, timed: Timed) => Promise<void>;

export interface LoopResult {
  mode: 'closed' | 'open';
  /** Closed loop: the virtual users. */
  concurrency: number | null;
  /** Open loop: iterations asked to start per second. */
  ratePerS: number | null;
  warmupS: number;
  durationS: number;
  ops: Record<string, OpSummary>;
  /** Iterations started inside the window. */
  iterations: number;
  /** Requests due inside the window, per second of it. */
  requestsPerS: number;
  /** Open loop: arrivals inside the window not started because `maxInFlight` iterations were running. */
  dropped: number;
  /** Open loop: most iterations running at once. */
  maxInFlight: number;
  /** p99 of the generator's own event-loop delay during the window: above a few ms, it was the bottleneck. */
  generatorLagP99Ms: number;
}

interface Window {
  start: number;
  end: number;
  log: LatencyLog;
}

const inWindow = (w: Window, at: number) => at >= w.start && at < w.end;

/** A `timed` whose first request counts from `firstDueAt` (open loop) and every other from when it is sent. */
function timer(w: Window, firstDueAt?: number): Timed {
  let dueAt = firstDueAt;
  return async (op, send) => {
    const at = dueAt ?? performance.now();
    dueAt = undefined;
    const answer = await send();
    if (inWindow(w, at)) w.log.record(op, performance.now() - at, answer.errorKind);
    return answer;
  };
}

/** Called when the measured window opens and when it closes, to sample the machine meanwhile. */
export interface WindowHooks {
  onStart?: () => void;
  onEnd?: () => void;
}

async function measured(
  warmupS: number,
  durationS: number,
  hooks: WindowHooks,
  run: (w: Window) => Promise<{ iterations: number; dropped: number; maxInFlight: number }>,
): Promise<Omit<LoopResult, 'mode' | 'concurrency' | 'ratePerS'>> {
  const start = performance.now() + warmupS * 1_000;
  const w: Window = { start, end: start + durationS * 1_000, log: new LatencyLog() };
  const lag = monitorEventLoopDelay({ resolution: 10 });
  // A hook that throws fails the phase rather than the process, so that the clean-ups still run.
  let hookError: unknown;
  const call = (hook: (() => void) | undefined) => {
    try {
      hook?.();
    } catch (error) {
      hookError ??= error;
    }
  };
  setTimeout(() => {
    lag.enable();
    call(hooks.onStart);
  }, warmupS * 1_000);
  // Waited for below: the last requests may answer before the timer's turn comes.
  const closed = new Promise<void>((resolve) =>
    setTimeout(
      () => {
        lag.disable();
        call(hooks.onEnd);
        resolve();
      },
      (warmupS + durationS) * 1_000,
    ),
  );
  const counts = await run(w);
  await closed;
  if (hookError !== undefined) throw hookError;
  const ops = w.log.summary();
  const requests = Object.entries(ops)
    .filter(([op]) => op !== 'all')
    .reduce((sum, [, s]) => sum + s.requests, 0);
  return {
    warmupS,
    durationS,
    ops,
    ...counts,
    requestsPerS: requests / durationS,
    generatorLagP99Ms: lag.count > 0 ? lag.percentile(99) / 1e6 : Number.NaN,
  };
}

/** Runs `iteration` in `concurrency` virtual users (user = 0 .. concurrency - 1) until the window ends. */
export async function closedLoop(options: {
  concurrency: number;
  warmupS: number;
  durationS: number;
  iteration: Iteration;
  hooks?: WindowHooks;
}): Promise<LoopResult> {
  const { concurrency, warmupS, durationS, iteration } = options;
  const result = await measured(warmupS, durationS, options.hooks ?? {}, async (w) => {
    let iterations = 0;
    const user = async (n: number) => {
      for (let now = performance.now(); now < w.end; now = performance.now()) {
        if (inWindow(w, now)) iterations++;
        await iteration(n, timer(w));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, n) => user(n)));
    return { iterations, dropped: 0, maxInFlight: concurrency };
  });
  return { mode: 'closed', concurrency, ratePerS: null, ...result };
}

/**
 * Starts `ratePerS` iterations a second, evenly spaced, until the window ends; arrival n is user
 * n mod `users`. At most `maxInFlight` run at once, so an overloaded system cannot make the
 * generator hold unbounded work: arrivals past that are dropped and counted.
 */
export async function openLoop(options: {
  ratePerS: number;
  users: number;
  maxInFlight: number;
  warmupS: number;
  durationS: number;
  iteration: Iteration;
  hooks?: WindowHooks;
}): Promise<LoopResult> {
  const { ratePerS, users, maxInFlight, warmupS, durationS, iteration } = options;
  const result = await measured(warmupS, durationS, options.hooks ?? {}, async (w) => {
    const intervalMs = 1_000 / ratePerS;
    const first = performance.now();
    const running = new Set<Promise<void>>();
    let iterations = 0;
    let dropped = 0;
    let most = 0;
    let n = 0;
    for (let now = first; now < w.end; now = performance.now()) {
      for (
        let dueAt = first + n * intervalMs;
        dueAt <= now && dueAt < w.end;
        dueAt = first + n * intervalMs
      ) {
        const user = n++ % users;
        if (running.size >= maxInFlight) {
          if (inWindow(w, dueAt)) dropped++;
          continue;
        }
        if (inWindow(w, dueAt)) iterations++;
        const done: Promise<void> = iteration(user, timer(w, dueAt)).finally(() => running.delete(done));
        running.add(done);
        most = Math.max(most, running.size);
      }
      await sleep(1);
    }
    await Promise.all(running);
    return { iterations, dropped, maxInFlight: most };
  });
  return { mode: 'open', concurrency: null, ratePerS, ...result };
}
