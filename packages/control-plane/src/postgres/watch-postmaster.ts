import { isRunning } from '../supervisor/process-group.ts';

/** How a postmaster ended. `code` and `signal` are known only for a child of this process. */
export interface PostmasterExit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A postmaster to watch: by pid alone when another process started it, with its `exit` too when this one did. */
export interface WatchedPostmaster {
  pid: number;
  /** Settles when the child exits; absent for a postmaster adopted from an earlier control plane. */
  exited?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A running watch: `gone` settles once the postmaster has ended, unless stop() came first. */
export interface PostmasterWatch {
  gone: Promise<PostmasterExit>;
  stop(): void;
}

/**
 * Watches a postmaster until it ends: by its child `exit` when there is one (at once, with the
 * exit status), otherwise by polling its pid every `intervalMs`, since a postmaster adopted from
 * an earlier control plane is no child of this one and sends no event. A zombie counts as ended:
 * an orphan is reparented to init, and the init of some containers never collects it, so its pid
 * would look alive for ever. A child is not polled: it is a zombie for a moment before its exit
 * event, which alone says how it ended.
 */
export function watchPostmaster(target: WatchedPostmaster, options: { intervalMs: number }): PostmasterWatch {
  const gone = Promise.withResolvers<PostmasterExit>();
  let stopped = false;
  const end = (exit: PostmasterExit) => {
    if (stopped) return;
    stop();
    gone.resolve(exit);
  };
  const timer =
    target.exited === undefined
      ? setInterval(() => {
          if (!isRunning(target.pid)) end({ pid: target.pid, code: null, signal: null });
        }, options.intervalMs)
      : undefined;
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  target.exited?.then(({ code, signal }) => end({ pid: target.pid, code, signal }));
  return { gone: gone.promise, stop };
}
