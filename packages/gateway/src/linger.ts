import type { IncomingMessage, ServerResponse } from 'node:http';

/** How long and how much of a refused body `lingerThenEnd` reads before it closes the connection. */
export interface LingerLimits {
  maxMs: number;
  maxBytes: number;
}

/**
 * Ends a response (already marked `Connection: close`, its body already written) whose request
 * body is still arriving, without reading that body to its end.
 *
 * Closing at once would leave the rest of the body unread in the kernel, and Linux answers that
 * with a reset, which reaches a client still sending before it has read the answer: undici and
 * Node's http client then report EPIPE instead of the answer. So the connection lingers, as nginx's
 * and Go's servers do: what arrives is read and dropped up to `maxBytes` (after which the client's
 * writes simply block, and a close of the client goes unseen), the response ends as soon as the
 * body does, the connection as soon as the client closes it, and at the latest after `maxMs`, once
 * the client has had the time to read the answer.
 */
export function lingerThenEnd(req: IncomingMessage, res: ServerResponse, limits: LingerLimits): void {
  let dropped = 0;
  const stop = (): void => {
    clearTimeout(timer);
    req.off('data', drop);
    req.off('end', end);
    res.off('close', stop);
  };
  // Node closes the socket once this is flushed, as the response said it would.
  const end = (): void => {
    stop();
    res.end();
  };
  const drop = (chunk: Buffer): void => {
    dropped += chunk.length;
    if (dropped >= limits.maxBytes) req.pause();
  };
  const timer = setTimeout(end, limits.maxMs);
  // The client went away first: nothing is left to end.
  res.once('close', stop);
  req.on('data', drop);
  req.once('end', end);
  // A body that was piped upstream is paused by its unpipe, and a 'data' listener alone does not
  // resume a stream paused that way.
  req.resume();
}
