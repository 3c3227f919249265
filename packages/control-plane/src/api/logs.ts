import type { ServerResponse } from 'node:http';
import type { LogLine } from '../types.ts';
import type { LogSource } from './backend.ts';
import { ApiError } from './errors.ts';

/** Limits of GET /v1/services/:service/logs. */
export interface LogLimits {
  /** Lines sent when `tail` is absent. */
  defaultTail: number;
  maxTail: number;
  /** Bytes a following client may leave unread before it is cut off. */
  followBufferBytes: number;
}

/**
 * GET /v1/services/:service/logs?instance=&tail=&follow=1 as NDJSON of LogLine. With `follow`, new
 * lines stream until the client leaves. A follower that stops reading is cut off once it has
 * `followBufferBytes` unread, rather than holding an unbounded backlog in the control plane.
 * Returns a function that ends the stream early (for shutdown).
 */
export function streamLogs(
  res: ServerResponse,
  options: { logs: LogSource; workload: string; query: URLSearchParams; limits: LogLimits },
): () => void {
  const { query, limits } = options;
  const tailText = query.get('tail');
  const tail = tailText === null ? limits.defaultTail : Number(tailText);
  if (!Number.isInteger(tail) || tail < 0 || tail > limits.maxTail) {
    throw new ApiError('BAD_REQUEST', {
      message: `"tail" must be a whole number from 0 to ${limits.maxTail}.`,
    });
  }
  const follow = ['1', 'true'].includes(query.get('follow') ?? '');
  const filter = { workload: options.workload, instance: query.get('instance') || undefined };
  res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' });
  const lines = options.logs.tail(filter, tail);
  res.write(lines.map(encode).join(''));
  if (!follow) {
    res.end();
    return () => {};
  }
  res.flushHeaders();
  const unsubscribe = options.logs.subscribe(filter, (line) => {
    res.write(encode(line));
    if (res.writableLength > limits.followBufferBytes) res.destroy();
  });
  const end = () => {
    unsubscribe();
    if (!res.writableEnded) res.end();
  };
  res.on('close', unsubscribe);
  return end;
}

function encode(line: LogLine): string {
  return `${JSON.stringify(line)}\n`;
}
