import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/** A TCP forwarder between a client and a server whose connection a test can break at will. */
export interface TcpProxy {
  /** Always 127.0.0.1. */
  readonly host: string;
  /** The port the proxy listens on; point the client here. */
  readonly port: number;
  /** Destroys every connection through the proxy and refuses new ones until restore(). */
  cut(): void;
  /** Forwards new connections again. */
  restore(): void;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

/**
 * Starts a proxy on 127.0.0.1, port 0, forwarding each connection to `target`. While cut, an
 * incoming connection is reset at once, as a server that went away would do.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cut = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A reset while cut is the point of the proxy, not a failure of the test.
    socket.on('error', () => undefined);
  };
  const server: Server = createServer((client) => {
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const destroyAll = () => {
    for (const socket of sockets) socket.resetAndDestroy();
  };
  return {
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    cut() {
      cut = true;
      destroyAll();
    },
    restore() {
      cut = false;
    },
    async close() {
      destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
