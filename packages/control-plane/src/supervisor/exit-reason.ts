/** Why a process ended, as a person would say it. */
export function describeExit(code: number | null, signal: string | null): string {
  if (signal !== null) return `killed by ${signal}`;
  return `exited with code ${code ?? 'unknown'}`;
}

/** The reason given when a liveness probe has the instance restarted. */
export function livenessFailedReason(consecutiveFailures: number, detail: string): string {
  return `liveness probe failed ${consecutiveFailures} times (${detail})`;
}

/**
 * The reason given when an instance is killed for not becoming ready in time, with what its last
 * readiness probe saw, when it saw something (a process may say why it is not ready).
 */
export function startupTimeoutReason(startupTimeoutMs: number, lastProbe: string | null = null): string {
  return `not ready within ${startupTimeoutMs} ms${lastProbe ? ` (last readiness probe: ${lastProbe})` : ''}`;
}

/** The reason given when a process could not be started at all (missing directory, say). */
export function spawnFailedReason(error: Error): string {
  return `could not start: ${error.message}`;
}
