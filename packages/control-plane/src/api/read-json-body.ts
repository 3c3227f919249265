import type { IncomingMessage } from 'node:http';
import { ApiError } from './errors.ts';

/**
 * Reads a JSON request body of at most `limitBytes`. A declared Content-Length over the limit is
 * refused before reading anything; a body that grows past it is refused as soon as it does. The
 * rest is left unread (not destroyed) so the 413 still reaches the client, on a connection marked
 * to close.
 */
export function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const tooLarge = () =>
    new ApiError('BODY_TOO_LARGE', {
      message: `The request body is larger than ${limitBytes} bytes.`,
      headers: { connection: 'close' },
    });
  if (Number(req.headers['content-length'] ?? 0) > limitBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limitBytes) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData).off('end', onEnd).pause();
      reject(tooLarge());
    };
    const onEnd = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        reject(new ApiError('BAD_REQUEST', { message: 'Expected a JSON body.' }));
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (cause) {
        reject(new ApiError('BAD_REQUEST', { message: 'The body is not valid JSON.', cause }));
      }
    };
    req.on('data', onData).on('end', onEnd).on('error', reject);
  });
}
