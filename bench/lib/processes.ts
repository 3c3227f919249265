/**
 * Every process the benchmark starts goes through here, so that all of them are stopped on the
 * way out: after a normal run, after a failure, and on Ctrl-C or SIGTERM.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

const running = new Set<ChildProcess>();
const cleanups: (() => Promise<void>)[] = [];

/** Spawns a child the benchmark owns; its stdout and stderr are piped unless `options` say otherwise. */
export function spawnOwned(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.once('error', () => running.delete(child));
  return child;
}

/** True once the child has exited (or never started). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
}

/** Sends `signal`, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000) {
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Registers work to run on the way out (stopping the control plane), last registered first. */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

/** Runs the registered clean-ups, then stops every child still running. Safe to call twice. */
export async function cleanUp(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (error) {
      console.error(`clean-up failed: ${(error as Error).message}`);
    }
  }
  await Promise.all([...running].map((child) => stopChild(child)));
}

/** On Ctrl-C or SIGTERM: clean up and exit 130; on any exit, kill whatever is somehow left. */
export function installSignalHandlers(): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${signal}: stopping everything the benchmark started`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}
