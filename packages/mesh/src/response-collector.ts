import { type Dispatcher, errors } from 'undici';
import type { MeshCall } from './mesh-call.ts';
import type { MeshResponse } from './types.ts';

type ResponseHeaders = Record<string, string | string[] | undefined>;

/** What a response made by the mesh itself (an injected fault) names as its endpoint. */
const NO_ENDPOINT: MeshResponse['endpoint'] = Object.freeze({ id: 'unknown', version: 'unknown' });

/** A response read to the end. */
class BufferedResponse implements MeshResponse {
  readonly statusCode: number;
  readonly headers: ResponseHeaders;
  readonly body: Buffer;
  readonly endpoint: MeshResponse['endpoint'];

  constructor(
    statusCode: number,
    headers: ResponseHeaders,
    body: Buffer,
    endpoint: MeshResponse['endpoint'],
  ) {
    this.statusCode = statusCode;
    this.headers = headers;
    this.body = body;
    this.endpoint = endpoint;
  }

  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }

  text(): string {
    return this.body.toString('utf8');
  }
}

/**
 * The handler behind `request()`: reads the response into memory up to a limit and settles a
 * promise. A larger body aborts the call rather than grow without bound.
 */
export class ResponseCollector implements Dispatcher.DispatchHandler {
  readonly #maxBytes: number;
  readonly #signal: AbortSignal | undefined;
  readonly #resolve: (response: MeshResponse) => void;
  readonly #reject: (error: Error) => void;
  #call: MeshCall | undefined;
  #statusCode = 0;
  #headers: ResponseHeaders = {};
  readonly #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(
    maxBytes: number,
    signal: AbortSignal | undefined,
    resolve: (response: MeshResponse) => void,
    reject: (error: Error) => void,
  ) {
    this.#maxBytes = maxBytes;
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  // The controller is always the MeshCall that request() created, which knows the endpoint.
  onRequestStart(controller: MeshCall): void {
    this.#call = controller;
    const signal = this.#signal;
    if (signal === undefined) return;
    if (signal.aborted) controller.abort(abortReason(signal));
    else signal.addEventListener('abort', this, { once: true });
  }

  /** The caller's signal fired. */
  handleEvent(): void {
    this.#call!.abort(abortReason(this.#signal!));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: ResponseHeaders,
  ): void {
    // Interim 1xx answers (103 Early Hints) come before the final response.
    if (statusCode < 200) return;
    this.#statusCode = statusCode;
    this.#headers = headers;
    if (Number(headers['content-length']) > this.#maxBytes) controller.abort(this.#tooLarge());
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#maxBytes) controller.abort(this.#tooLarge());
    else this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.#signal?.removeEventListener('abort', this);
    // Most answers come in one chunk, kept as it is (already retained) rather than copied.
    const chunks = this.#chunks;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#bytes);
    this.#resolve(
      new BufferedResponse(this.#statusCode, this.#headers, body, this.#call!.endpoint ?? NO_ENDPOINT),
    );
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    this.#signal?.removeEventListener('abort', this);
    this.#reject(error);
  }

  #tooLarge(): Error {
    return new errors.ResponseExceededMaxSizeError(
      `The response body is larger than ${this.#maxBytes} bytes; raise maxResponseBytes or stream it with dispatch().`,
    );
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new errors.RequestAbortedError();
}
