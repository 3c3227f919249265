import type { Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server as NetServer, type Socket } from 'node:net';
import type { TLSSocket, Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';

/** The first byte of a TLS record carrying a handshake: every TLS connection opens with one. */
const TLS_HANDSHAKE = 0x16;

/**
 * One port for plaintext and mutual TLS, as a sidecar in permissive mode offers. It accepts every
 * connection itself and reads its first byte: a TLS handshake goes to the TLS terminator (a
 * `tls.Server` that never listens, which verifies the client's certificate) and from there,
 * decrypted, to the HTTP server; anything else goes to the HTTP server as it is. Without a
 * terminator (no certificate yet, or `mesh.mtls: disable`) a TLS hello is closed.
 *
 * The HTTP server never listens either. It is told `listening` once the front does, because that
 * is when node:http starts tracking its connections: without it `closeIdleConnections()` (which
 * the drain on shutdown relies on) and the header and request timeouts would see no connection.
 */
export class ConnectionFront {
  readonly #net: NetServer;
  readonly #http: HttpServer;
  readonly #log: Logger;
  readonly #firstByteTimeoutMs: number;
  /** Every accepted connection, to cut them all when the grace period is over. */
  readonly #sockets = new Set<Socket>();
  /** Connections that have not sent their first byte yet. */
  readonly #silent = new Set<Socket>();
  readonly #wired = new WeakSet<TlsServer>();
  #tls: TlsServer | undefined;

  constructor(http: HttpServer, options: { log: Logger; firstByteTimeoutMs: number }) {
    this.#http = http;
    this.#log = options.log;
    this.#firstByteTimeoutMs = options.firstByteTimeoutMs;
    this.#net = createServer((socket) => this.#accept(socket));
  }

  /** Where TLS connections go from now on; undefined closes TLS hellos. */
  set tls(server: TlsServer | undefined) {
    if (server !== undefined && !this.#wired.has(server)) {
      this.#wired.add(server);
      server.on('secureConnection', (socket: TLSSocket) => this.#http.emit('connection', socket));
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
        this.#log.debug({ err, remote: socket.remoteAddress }, 'TLS handshake refused');
      });
    }
    this.#tls = server;
  }

  /** Listens on `host:port`; resolves once listening. */
  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#net.once('error', reject);
      this.#net.listen(port, host, () => {
        this.#net.off('error', reject);
        this.#http.emit('listening');
        resolve();
      });
    });
  }

  address(): AddressInfo | null {
    return this.#net.address() as AddressInfo | null;
  }

  /**
   * Stops accepting, closes idle keep-alive connections and those still silent, and calls
   * `callback` once every connection has closed.
   */
  close(callback: () => void): void {
    this.#net.close(() => callback());
    // On a server that never listened this only closes idle connections and stops the timeout checks.
    this.#http.close();
    for (const socket of this.#silent) socket.destroy();
  }

  /** Closes keep-alive connections that carry no request now. */
  closeIdleConnections(): void {
    this.#http.closeIdleConnections();
  }

  /** Cuts every connection, busy or not. */
  closeAllConnections(): void {
    this.#http.closeAllConnections();
    for (const socket of this.#sockets) socket.destroy();
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    this.#silent.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#silent.delete(socket);
    });
    // A reset must never be an unhandled error; node:http and TLS add their own handling after.
    socket.on('error', (err) => this.#log.debug({ err }, 'connection error'));
    const silent = () => socket.destroy();
    socket.setTimeout(this.#firstByteTimeoutMs, silent);
    socket.once('data', (chunk: Buffer) => {
      this.#silent.delete(socket);
      socket.setTimeout(0);
      socket.off('timeout', silent);
      socket.pause();
      socket.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE) {
        if (this.#tls === undefined) socket.destroy();
        else this.#tls.emit('connection', socket);
        return;
      }
      this.#http.emit('connection', socket);
      // node:http reads from the socket's handle from now on; resuming on this tick makes the
      // byte put back arrive first, before anything the handle reads next.
      socket.resume();
    });
  }
}
