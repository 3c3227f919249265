import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.ts';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** Whether the request carries a body at all (a declared non-zero length, or a chunked one). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Reads and parses a JSON body of at most `limitBytes`; undefined when none was sent. A declared
 * length over the limit is refused before a byte is read; a chunked body is counted as it
 * arrives and refused the moment it passes the limit, without buffering the rest.
 */
export async function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  if (Number(req.headers['content-length']) > limitBytes) throw tooLarge(limitBytes);
  if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) throw HttpError.of('UNSUPPORTED_MEDIA_TYPE');
  const raw = await readBody(req, limitBytes);
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (cause) {
    throw HttpError.of('INVALID_JSON', { cause });
  }
}

function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        // The stream keeps flowing with no listener, so the rest is dropped, not buffered.
        cleanup();
        reject(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(new Error('The client closed the connection before the whole body arrived'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function tooLarge(limitBytes: number): HttpError {
  return HttpError.of('BODY_TOO_LARGE', {
    message: `The request body is larger than ${limitBytes} bytes.`,
    details: { limitBytes },
  });
}
