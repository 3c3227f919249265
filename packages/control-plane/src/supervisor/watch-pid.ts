import { isRunning } from './process-group.ts';

/**
 * Calls `onGone` once `pid` no longer runs, checking every `intervalMs`: how the exit of a process
 * that is not our child (adopted from an earlier run) is noticed, since no 'exit' event comes for
 * it. Returns a function that stops watching.
 */
export function watchPid(pid: number, intervalMs: number, onGone: () => void): () => void {
  const timer = setInterval(() => {
    if (isRunning(pid)) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  return () => clearInterval(timer);
}
