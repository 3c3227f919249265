import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RoutingTable } from '@flotilla/spec';
import type { Logger } from 'pino';
import type { TableSource } from './table-source.ts';

/** Options of a watch stream; the control plane fills them from its defaults. */
export interface WatchStreamOptions {
  source: TableSource;
  /** Interval of the `: ping` comment that keeps idle connections (and proxies) from timing out. */
  heartbeatMs: number;
  log: Logger;
}

interface Client {
  res: ServerResponse;
  /** Revision last written to this client. */
  sent: number;
  /** The socket buffer was full at the last write, and has not drained since. */
  blocked: boolean;
  /** Heartbeats that found this client blocked. */
  blockedTicks: number;
}

const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
};

/**
 * GET /v1/watch: the routing table as server-sent events, to any number of data-plane clients.
 *
 * Memory stays bounded however slow a client is: a client whose socket buffer is full gets no more
 * writes. The data plane only needs the latest table (each one is the whole state), so when that
 * client drains it gets the newest table, skipping any it missed. A client still full at two
 * heartbeats in a row is dropped; it reconnects and resumes with `Last-Event-ID`. A slow client
 * never delays the others, since every write is a non-blocking append of one shared buffer.
 */
export class WatchStream {
  readonly #source: TableSource;
  readonly #log: Logger;
  readonly #clients = new Set<Client>();
  readonly #unsubscribe: () => void;
  readonly #heartbeat: NodeJS.Timeout;
  #message: { revision: number; bytes: Buffer };

  constructor(options: WatchStreamOptions) {
    this.#source = options.source;
    this.#log = options.log;
    this.#message = encode(options.source.table());
    this.#unsubscribe = options.source.subscribe((table) => this.#publish(table));
    this.#heartbeat = setInterval(() => this.#ping(), options.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Number of connected clients. */
  get size(): number {
    return this.#clients.size;
  }

  /** Serves one client until it leaves; authorization is the caller's job. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const client: Client = { res, sent: 0, blocked: false, blockedTicks: 0 };
    this.#clients.add(client);
    const leave = () => this.#clients.delete(client);
    res.on('close', leave);
    res.on('error', leave);
    res.on('drain', () => {
      client.blocked = false;
      client.blockedTicks = 0;
      if (client.sent !== this.#message.revision) this.#send(client);
    });
    res.writeHead(200, HEADERS);
    const lastEventId = Number(req.headers['last-event-id']);
    if (lastEventId === this.#message.revision) {
      client.sent = lastEventId;
      res.flushHeaders();
    } else {
      this.#send(client);
    }
  }

  /** Ends every client's stream and stops following the source. */
  close(): void {
    clearInterval(this.#heartbeat);
    this.#unsubscribe();
    for (const client of this.#clients) client.res.end();
    this.#clients.clear();
  }

  #publish(table: RoutingTable): void {
    this.#message = encode(table);
    for (const client of this.#clients) {
      if (!client.blocked) this.#send(client);
    }
  }

  #send(client: Client): void {
    client.sent = this.#message.revision;
    client.blocked = !client.res.write(this.#message.bytes);
  }

  #ping(): void {
    for (const client of this.#clients) {
      if (!client.blocked) {
        client.blocked = !client.res.write(': ping\n\n');
      } else if (++client.blockedTicks >= 2) {
        this.#log.warn(
          { buffered: client.res.writableLength },
          'watch client too slow to read the routing table; dropped (it will reconnect)',
        );
        this.#clients.delete(client);
        client.res.destroy();
      }
    }
  }
}

function encode(table: RoutingTable): { revision: number; bytes: Buffer } {
  return {
    revision: table.revision,
    bytes: Buffer.from(`event: table\nid: ${table.revision}\ndata: ${JSON.stringify(table)}\n\n`),
  };
}
