import type { Endpoint } from '@flotilla/spec';
import { Pool } from 'undici';
import type { BalancerTarget } from './balancer/index.ts';
import { MESH_DEFAULTS } from './defaults.ts';

const POOL_OPTIONS: Pool.Options = { connect: { timeout: MESH_DEFAULTS.connectTimeoutMs } };

/** Identifies an endpoint across tables: the same instance at the same address keeps its pool. */
export function upstreamKey(endpoint: Endpoint): string {
  return `${endpoint.id}@${endpoint.host}:${endpoint.port}`;
}

/**
 * One endpoint as the client sees it: its keep-alive pool, created on the first call, and the
 * count of calls in flight that the least-request balancer reads.
 */
export class Upstream implements BalancerTarget {
  readonly id: string;
  readonly version: string;
  /** What MeshResponse.endpoint reports, built once rather than per call. */
  readonly endpoint: { readonly id: string; readonly version: string };
  inFlight = 0;
  readonly #origin: string;
  #pool: Pool | undefined;

  constructor(endpoint: Endpoint) {
    this.id = endpoint.id;
    this.version = endpoint.version;
    this.endpoint = Object.freeze({ id: endpoint.id, version: endpoint.version });
    const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
    this.#origin = `http://${host}:${endpoint.port}`;
  }

  /** The endpoint's connection pool. */
  get pool(): Pool {
    this.#pool ??= new Pool(this.#origin, POOL_OPTIONS);
    return this.#pool;
  }

  /** Closes the pool once the calls in flight on it have finished. */
  async close(): Promise<void> {
    await this.#pool?.close();
  }
}
