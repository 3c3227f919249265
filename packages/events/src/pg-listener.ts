import pg from 'pg';
import { type BackoffPolicy, backoffMs } from './backoff.ts';
import type { Log } from './log.ts';

/** What a LISTEN connection listens to, and whom it tells. */
export interface ListenerOptions {
  /** How to connect: a pool's own settings (`pool.options`) will do. */
  client: pg.ClientConfig;
  channel: string;
  /** A notification on the channel arrived, with its payload. */
  onNotify(payload: string): void;
  /** The connection was (re)established: anything notified while it was down was missed, so look now. */
  onConnect(): void;
  log: Log;
  reconnect: BackoffPolicy;
}

/** A running LISTEN connection. */
export interface Listener {
  close(): Promise<void>;
}

/**
 * Keeps one connection LISTENing on `channel`, reconnecting with jittered backoff whenever it
 * fails. Notifications are only a wake-up call: whoever uses this also polls, because
 * notifications sent while the connection was down are gone.
 */
export function startListener(options: ListenerOptions): Listener {
  const { channel, log } = options;
  let client: pg.Client | undefined;
  let closed = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;

  const schedule = (err: unknown) => {
    if (closed || timer) return;
    failures += 1;
    const delayMs = backoffMs(failures, options.reconnect);
    log.warn({ err, channel, retry_in_ms: delayMs }, 'LISTEN connection failed: reconnecting');
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, delayMs);
  };

  const drop = (c: pg.Client, err: unknown) => {
    if (client !== c) return;
    client = undefined;
    c.end().catch(() => undefined);
    schedule(err);
  };

  const connect = async () => {
    const c = new pg.Client({ ...options.client, keepAlive: true });
    c.on('error', (err) => drop(c, err));
    c.on('end', () => drop(c, new Error('connection ended')));
    c.on('notification', (n) => {
      if (n.channel === channel) options.onNotify(n.payload ?? '');
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (err) {
      c.end().catch(() => undefined);
      schedule(err);
      return;
    }
    if (closed) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    if (failures > 0) log.info({ channel }, 'LISTEN connection restored');
    failures = 0;
    options.onConnect();
  };

  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}
