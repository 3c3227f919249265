import { setTimeout as sleep } from 'node:timers/promises';
import { CONTROL_PATHS, type RoutingTable } from '@flotilla/spec';
import { Client } from 'undici';
import { MESH_DEFAULTS } from '../defaults.ts';
import { WatchError, type WatchErrorCode } from '../errors.ts';
import type { MeshLogger } from '../types.ts';
import { backoffDelayMs } from './backoff.ts';
import { parseTable } from './parse-table.ts';
import { type SseEvent, SseParser } from './sse-parser.ts';

/** How to follow the control plane's watch stream. */
export interface WatchOptions {
  /** Base URL of the control plane. */
  controlUrl: string;
  /** Data-plane bearer token. */
  token: string | undefined;
  /** Revision of the table held now; sent as Last-Event-ID when reconnecting. */
  revision(): number | undefined;
  /** Gets every table the stream delivers; keeping only newer revisions is the receiver's job. */
  onTable(table: RoutingTable): void;
  log: MeshLogger;
  /** Silence (no event, no heartbeat) after which the connection counts as dead. @default 45 s */
  idleTimeoutMs?: number;
}

/**
 * Follows `GET /v1/watch` for as long as it is open: reconnects with backoff whatever happens
 * (refused connection, 401, stream closed, silence), and never forgets a table because the control
 * plane went away; the data plane keeps routing on the last one it got.
 *
 * Problems are logged when they change, not on every attempt, so a control plane that is down for
 * an hour costs one warning per process, and one line when it is back.
 */
export class Watch {
  readonly #options: WatchOptions;
  readonly #client: Client;
  readonly #path: string;
  readonly #idleTimeoutMs: number;
  readonly #stop = new AbortController();
  readonly #running: Promise<void>;
  #lastError: WatchError | undefined;
  #loggedCode: WatchErrorCode | undefined;
  /** Whether the current connection has delivered anything. */
  #receiving = false;

  constructor(options: WatchOptions) {
    this.#options = options;
    const url = new URL(options.controlUrl);
    this.#client = new Client(url.origin);
    this.#path = url.pathname.replace(/\/+$/, '') + CONTROL_PATHS.watch;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? MESH_DEFAULTS.watch.idleTimeoutMs;
    this.#running = this.#run();
  }

  /** Why the stream is not delivering right now; undefined while it is. */
  get lastError(): WatchError | undefined {
    return this.#lastError;
  }

  /** Stops following the stream and closes its connection. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#running;
    await this.#client.destroy();
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      this.#receiving = false;
      const error = await this.#follow(signal);
      if (signal.aborted) return;
      this.#report(error);
      failures = this.#receiving ? 1 : failures + 1;
      try {
        await sleep(backoffDelayMs(failures, Math.random()), undefined, { signal });
      } catch {
        return;
      }
    }
  }

  /** Follows one connection until it ends; returns why it ended. */
  async #follow(signal: AbortSignal): Promise<WatchError> {
    const { controlUrl } = this.#options;
    try {
      const response = await this.#client.request({
        path: this.#path,
        method: 'GET',
        headers: this.#headers(),
        signal,
        headersTimeout: this.#idleTimeoutMs,
        bodyTimeout: this.#idleTimeoutMs,
      });
      const { statusCode } = response;
      if (statusCode !== 200) {
        await response.body.dump();
        const code = statusCode === 401 ? 'MESH_WATCH_UNAUTHORIZED' : 'MESH_WATCH_STATUS';
        return new WatchError(code, controlUrl, { statusCode });
      }
      const parser = new SseParser(this.#onEvent);
      response.body.setEncoding('utf8');
      for await (const chunk of response.body) {
        if (!this.#receiving) this.#connected();
        parser.feed(chunk);
      }
      return new WatchError('MESH_WATCH_DISCONNECTED', controlUrl);
    } catch (cause) {
      // undici's body timeout is reset by every chunk, heartbeats included: it fires on silence.
      const code = (cause as { code?: unknown }).code;
      const idle = code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT';
      return new WatchError(idle ? 'MESH_WATCH_IDLE' : 'MESH_WATCH_DISCONNECTED', controlUrl, { cause });
    }
  }

  #headers(): Record<string, string> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.#options.token !== undefined) headers.authorization = `Bearer ${this.#options.token}`;
    const revision = this.#options.revision();
    if (revision !== undefined) headers['last-event-id'] = String(revision);
    return headers;
  }

  readonly #onEvent = (event: SseEvent): void => {
    if (event.type !== 'table') return;
    const table = parseTable(event.data);
    if (table === undefined) {
      this.#report(new WatchError('MESH_WATCH_BAD_EVENT', this.#options.controlUrl));
      return;
    }
    try {
      this.#options.onTable(table);
    } catch (cause) {
      this.#report(new WatchError('MESH_WATCH_BAD_EVENT', this.#options.controlUrl, { cause }));
    }
  };

  #connected(): void {
    this.#receiving = true;
    this.#lastError = undefined;
    if (this.#loggedCode !== undefined) {
      this.#options.log.info({ controlUrl: this.#options.controlUrl }, 'The watch stream is back.');
    }
    this.#loggedCode = undefined;
  }

  #report(error: WatchError): void {
    this.#lastError = error;
    if (error.code === this.#loggedCode) return;
    this.#loggedCode = error.code;
    this.#options.log.warn({ err: error, code: error.code, controlUrl: error.controlUrl }, error.message);
  }
}
