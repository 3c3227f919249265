import type { IncomingMessage, ServerResponse } from 'node:http';

/** What serves a watch client: the WatchStream. */
interface WatchTarget {
  handle(req: IncomingMessage, res: ServerResponse): void;
}

/**
 * Holds watch clients until open(), then hands them (and every later one) to the stream.
 *
 * A control plane that adopts the instances of a killed earlier one listens on the same port, and
 * their watch streams reconnect to it at once, before it has looked at them. Its table then still
 * lists no endpoint, and each data-plane process would replace the table it routes on with that
 * empty one: a full outage of a system that was serving. Held, a client goes on routing on its
 * last table until the stream has one that lists what was adopted.
 */
export class WatchGate implements WatchTarget {
  readonly #stream: WatchTarget;
  readonly #waiting = new Set<{ req: IncomingMessage; res: ServerResponse }>();
  #open = false;

  constructor(stream: WatchTarget, options: { open: boolean }) {
    this.#stream = stream;
    this.#open = options.open;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.#open) {
      this.#stream.handle(req, res);
      return;
    }
    const client = { req, res };
    this.#waiting.add(client);
    res.once('close', () => this.#waiting.delete(client));
  }

  /** Serves every held client, and every later one at once. */
  open(): void {
    this.#open = true;
    for (const { req, res } of this.#waiting) this.#stream.handle(req, res);
    this.#waiting.clear();
  }
}
