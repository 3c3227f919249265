/** Every default of the `flotilla` command, in one place. Units are in the names. */
export const DEFAULTS = {
  /** Spec file read when `--file` is not given, relative to the current directory. */
  specFile: 'flotilla.yaml',
  /** Lines of history `flotilla logs` asks for. */
  logsTail: 200,
  /** Messages `flotilla mail` lists. */
  mailLimit: 50,
  /** Dead letters `flotilla dead-letters` lists. */
  deadLettersLimit: 100,
  /** How long one admin API call may take before the command gives up. */
  requestTimeoutMs: 10_000,
  /** How long `flotilla down` waits for the control plane to exit. */
  downTimeoutMs: 60_000,
  /** How often `flotilla down` says it is still waiting. */
  downProgressEveryMs: 5_000,
  /** How long `flotilla up --detach` waits for the system to become ready. */
  detachReadyTimeoutMs: 180_000,
  /** How often a waiting command looks at the state file or the pid again. */
  pollIntervalMs: 100,
  /** Lines of the control-plane log shown when a detached start fails. */
  failureLogTailLines: 30,
  /** Control-plane log level of `up` in the foreground, on a terminal or a pipe (progress lines tell the story there). */
  foregroundLogLevel: 'warn',
  /** Control-plane log level of `up --detach`, whose log file is for tools and for looking back. */
  detachedLogLevel: 'info',
} as const;
