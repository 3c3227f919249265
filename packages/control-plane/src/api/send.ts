import type { ServerResponse } from 'node:http';
import { ApiError } from './errors.ts';

/** Sends a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** Sends an error as `{"error":{"code","message"}}`; anything not an ApiError becomes a bare INTERNAL. */
export function sendError(res: ServerResponse, error: unknown): void {
  const apiError = error instanceof ApiError ? error : new ApiError('INTERNAL');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = apiError.toBody();
  res.writeHead(apiError.status, {
    ...apiError.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
