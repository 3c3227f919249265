import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { GatewayError } from './errors.ts';

/**
 * A client's request body on its way upstream, counted as it streams. It stands between the client
 * request and the upstream call so that the upstream side failing destroys this stream only, never
 * the client's socket, which still has to carry the error answer.
 */
export class RequestBody extends Transform {
  readonly maxBytes: number;
  received = 0;
  /** Set once more than `maxBytes` arrived; the stream then fails and the upstream call with it. */
  tooLarge = false;

  constructor(maxBytes: number) {
    super();
    this.maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.maxBytes) {
      this.tooLarge = true;
      done(new GatewayError('BODY_TOO_LARGE'));
      return;
    }
    done(null, chunk);
  }
}

/** Whether a request announces a body; requests without one go upstream with none, at no cost. */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The declared length, when the client gave one; Node's parser holds the body to it. */
export function declaredLength(req: IncomingMessage): number | undefined {
  const length = req.headers['content-length'];
  return length === undefined ? undefined : Number(length);
}

/** Streams the client's body into a counting stream that fails past `maxBytes` (unlimited when undefined). */
export function pipeBody(req: IncomingMessage, maxBytes: number | undefined): RequestBody {
  const body = new RequestBody(maxBytes ?? Number.POSITIVE_INFINITY);
  req.pipe(body);
  return body;
}
