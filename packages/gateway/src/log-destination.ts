import { GATEWAY_DEFAULTS } from './defaults.ts';

/** Where a logger writes lines; pino takes any object with `write`. */
export interface LogDestination {
  write(line: string): void;
  /** Writes what is buffered now. */
  flush(): void;
}

/**
 * Standard output for the access log, one write per event-loop turn instead of one per line: at
 * thousands of requests a second that is thousands of system calls saved here and as many reads
 * saved in the control plane, which collects the lines. A turn's lines, or `logBatchMaxBytes` of
 * them, whichever comes first, go out together; what is buffered is written before the process exits.
 * On Linux a write to a pipe or file is synchronous, so a flushed line is out of the process.
 */
export function batchedStdout(): LogDestination {
  let buffered = '';
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (buffered === '') return;
    const out = buffered;
    buffered = '';
    process.stdout.write(out);
  };
  process.once('exit', flush);
  // The control plane reads this pipe. When it dies the gateway must keep serving (static
  // stability): lines are dropped from then on instead of the error killing the process.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    buffered = '';
  });
  return {
    write(line) {
      buffered += line;
      if (buffered.length >= GATEWAY_DEFAULTS.logBatchMaxBytes) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
