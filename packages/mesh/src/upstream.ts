import { type ConnectionOptions, type SecureContext, connect as tlsConnect } from 'node:tls';
import type { Endpoint } from '@flotilla/spec';
import { type buildConnector, Pool } from 'undici';
import type { BalancerTarget } from './balancer/index.ts';
import { MESH_DEFAULTS } from './defaults.ts';

/** How a client speaks mutual TLS to an endpoint: its current context and the identity it expects. */
export interface UpstreamTls {
  /** The process's certificate and trust bundle now; read per connection, so renewals apply. */
  context(): SecureContext;
  /** Accepts the server's certificate only when it names a workload of the expected service. */
  checkServerIdentity: NonNullable<ConnectionOptions['checkServerIdentity']>;
}

/** Identifies an endpoint across tables: the same instance at the same address and scheme keeps its pool. */
export function upstreamKey(endpoint: Endpoint, tls: boolean): string {
  return `${endpoint.id}@${endpoint.host}:${endpoint.port}${tls ? '+tls' : ''}`;
}

/**
 * One endpoint as the client sees it: its keep-alive pool, created on the first call, and the
 * count of calls in flight that the least-request balancer and the circuit breaker read.
 */
export class Upstream implements BalancerTarget {
  readonly id: string;
  readonly version: string;
  /** What MeshResponse.endpoint reports, built once rather than per call. */
  readonly endpoint: { readonly id: string; readonly version: string };
  /** `mutual_tls` or `none`: the label Istio's metrics carry. */
  readonly securityPolicy: 'mutual_tls' | 'none';
  /** Connections the pool may open; calls beyond wait in it (pending). */
  readonly maxConnections: number;
  inFlight = 0;
  readonly #origin: string;
  readonly #host: string;
  readonly #port: number;
  readonly #tls: UpstreamTls | undefined;
  #pool: Pool | undefined;

  constructor(endpoint: Endpoint, maxConnections: number, tls?: UpstreamTls) {
    this.id = endpoint.id;
    this.version = endpoint.version;
    this.endpoint = Object.freeze({ id: endpoint.id, version: endpoint.version });
    this.securityPolicy = tls === undefined ? 'none' : 'mutual_tls';
    this.maxConnections = maxConnections;
    this.#tls = tls;
    this.#host = endpoint.host;
    this.#port = endpoint.port;
    const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
    this.#origin = `${tls === undefined ? 'http' : 'https'}://${host}:${endpoint.port}`;
  }

  /** Calls waiting in the pool for a connection. */
  get pending(): number {
    const waiting = this.inFlight - this.maxConnections;
    return waiting > 0 ? waiting : 0;
  }

  /** The endpoint's connection pool. */
  get pool(): Pool {
    this.#pool ??= new Pool(this.#origin, {
      connections: this.maxConnections,
      connect: this.#tls === undefined ? { timeout: MESH_DEFAULTS.connectTimeoutMs } : this.#connectTls,
    });
    return this.#pool;
  }

  /** Closes the pool once the calls in flight on it have finished. */
  async close(): Promise<void> {
    await this.#pool?.close();
  }

  /**
   * undici's connector for mutual TLS. The context is read at each connect rather than fixed in
   * the pool, so a renewed certificate or a rotated trust bundle applies to the next connection
   * without a new pool; established connections keep the identity they proved.
   */
  readonly #connectTls: buildConnector.connector = (_options, callback): void => {
    const tls = this.#tls!;
    const socket = tlsConnect({
      host: this.#host,
      port: this.#port,
      secureContext: tls.context(),
      checkServerIdentity: tls.checkServerIdentity,
      ALPNProtocols: ['http/1.1'],
    });
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(connectTimeout()), MESH_DEFAULTS.connectTimeoutMs);
    const onError = (error: Error) => {
      clearTimeout(timer);
      callback(error, null);
    };
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      callback(null, socket);
    });
  };
}

function connectTimeout(): Error {
  return Object.assign(new Error('TLS connect timed out'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
}
