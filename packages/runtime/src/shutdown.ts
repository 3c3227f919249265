import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Context } from './context.ts';

/** What a drain stops: a listener and its connections (a node:http server, or the connection front). */
export interface Drainable {
  /** Stops accepting and calls back once every connection has closed. */
  close(callback: () => void): unknown;
  closeAllConnections(): void;
}

/** What a drain works on. */
export interface DrainOptions {
  server: Drainable;
  /** Requests being handled; the drain waits for them and names them if it must cut them. */
  inflight: ReadonlySet<Context>;
  graceMs: number;
  log: Logger;
  /** Closes what requests use (the database pool) once the last connection has closed. */
  release(): Promise<void>;
}

/**
 * Stops the listener at once, so new connections are refused from the moment this is called,
 * then waits for every connection to close and runs `release`. Idle keep-alive connections are
 * closed by `server.close()` and by the caller after each response; responses in flight close
 * theirs. At the deadline it logs the requests it cuts, drops every connection and resolves
 * false; otherwise it resolves true.
 */
export async function drain(options: DrainOptions): Promise<boolean> {
  const { server, inflight, graceMs, log } = options;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const finished = closed.then(options.release).then(
    () => true,
    (err: unknown) => {
      log.warn({ err }, 'releasing resources failed during shutdown');
      return true;
    },
  );
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  const drained = await Promise.race([finished, deadline]);
  clearTimeout(timer);
  if (!drained) {
    const now = performance.now();
    log.error(
      {
        grace_ms: graceMs,
        cut: [...inflight].map((ctx) => ({
          method: ctx.req.method,
          path: ctx.path,
          request_id: ctx.requestId,
          elapsed_ms: Math.round(now - ctx.startedAt),
        })),
      },
      `grace period over: cutting ${inflight.size} request(s) still in flight`,
    );
    server.closeAllConnections();
  }
  return drained;
}
