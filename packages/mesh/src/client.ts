import type { RoutingTable } from '@flotilla/spec';
import { type Dispatcher, errors } from 'undici';
import type { BalancerKind } from './balancer/index.ts';
import { MESH_DEFAULTS } from './defaults.ts';
import { WatchError } from './errors.ts';
import { type CallContext, MeshCall } from './mesh-call.ts';
import { ResponseCollector } from './response-collector.ts';
import { buildRoutes, NO_ROUTES, type Routes } from './routes.ts';
import type {
  MeshClient,
  MeshClientOptions,
  MeshDispatchOptions,
  MeshLogger,
  MeshRequest,
  MeshResponse,
  MeshSource,
} from './types.ts';
import { Watch } from './watch/index.ts';

const BALANCERS: readonly BalancerKind[] = ['least-request', 'round-robin'];

/** Without a logger of its own, a process still hears about a refused token: as a Node warning. */
const WARNING_LOGGER: MeshLogger = {
  info() {},
  warn(_obj, msg) {
    process.emitWarning(msg, 'FlotillaMeshWarning');
  },
};

/**
 * Creates a mesh client. With `controlUrl` it follows the control plane's watch stream; with
 * `table` it routes on that table from the start (and a watch, if any, replaces it with newer ones).
 */
export function createMeshClient(options: MeshClientOptions): MeshClient {
  return new Mesh(validate(options));
}

function validate(options: MeshClientOptions): MeshClientOptions {
  const { source, controlUrl, table, balancer, maxResponseBytes } = options;
  if (typeof source?.workload !== 'string' || typeof source.version !== 'string') {
    throw new errors.InvalidArgumentError('source must name the calling workload and version.');
  }
  if (controlUrl === undefined && table === undefined) {
    throw new errors.InvalidArgumentError('Give controlUrl (to follow the control plane) or a fixed table.');
  }
  if (controlUrl !== undefined && !URL.canParse(controlUrl)) {
    throw new errors.InvalidArgumentError(`controlUrl is not a URL: ${controlUrl}`);
  }
  if (balancer !== undefined && !BALANCERS.includes(balancer)) {
    throw new errors.InvalidArgumentError(`balancer must be one of ${BALANCERS.join(', ')}.`);
  }
  if (maxResponseBytes !== undefined && !(Number.isInteger(maxResponseBytes) && maxResponseBytes > 0)) {
    throw new errors.InvalidArgumentError('maxResponseBytes must be a positive integer.');
  }
  return options;
}

/** The client: the current routes, the watch that renews them, and calls that read them. */
class Mesh implements MeshClient, CallContext {
  readonly source: MeshSource;
  routes: Routes = NO_ROUTES;
  closed = false;
  readonly #balancer: BalancerKind;
  readonly #maxResponseBytes: number;
  readonly #log: MeshLogger;
  readonly #controlUrl: string | undefined;
  readonly #listeners = new Set<(table: RoutingTable) => void>();
  readonly #watch: Watch | undefined;
  #table: RoutingTable | undefined;

  constructor(options: MeshClientOptions) {
    this.source = { workload: options.source.workload, version: options.source.version };
    this.#balancer = options.balancer ?? MESH_DEFAULTS.balancer;
    this.#maxResponseBytes = options.maxResponseBytes ?? MESH_DEFAULTS.maxResponseBytes;
    this.#log = options.log ?? WARNING_LOGGER;
    this.#controlUrl = options.controlUrl;
    if (options.table !== undefined) this.#apply(options.table);
    if (options.controlUrl !== undefined) {
      this.#watch = new Watch({
        controlUrl: options.controlUrl,
        token: options.token,
        revision: () => this.#table?.revision,
        onTable: (table) => this.#apply(table),
        log: this.#log,
      });
    }
  }

  ready(timeoutMs: number = MESH_DEFAULTS.readyTimeoutMs): Promise<void> {
    if (this.#table !== undefined) return Promise.resolve();
    if (this.closed) return Promise.reject(new errors.ClientClosedError('The mesh client is closed.'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        const cause = this.#watch?.lastError;
        reject(new WatchError('MESH_WATCH_NO_TABLE', this.#controlUrl ?? '', cause ? { cause } : {}));
      }, timeoutMs);
      const unsubscribe = this.onTable(() => {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      });
    });
  }

  table(): RoutingTable | undefined {
    return this.#table;
  }

  onTable(listener: (table: RoutingTable) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  dispatch(options: MeshDispatchOptions, handler: Dispatcher.DispatchHandler): void {
    new MeshCall(this, options, handler).start();
  }

  request(request: MeshRequest): Promise<MeshResponse> {
    return new Promise((resolve, reject) => {
      const collector = new ResponseCollector(this.#maxResponseBytes, request.signal, resolve, reject);
      const options: MeshDispatchOptions = {
        service: request.service,
        method: request.method ?? 'GET',
        path: request.path,
        headers: request.headers,
        body: request.body,
        timeoutMs: request.timeoutMs,
      };
      new MeshCall(this, options, collector).start();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.#listeners.clear();
    await this.#watch?.close();
    await Promise.all([...this.routes.upstreams.values()].map((upstream) => upstream.close()));
  }

  /**
   * Switches to a table when it is newer than the one held. Endpoints that left close their pools
   * gracefully: calls already on them finish, new calls no longer see them.
   */
  #apply(table: RoutingTable): void {
    if (this.closed || (this.#table !== undefined && table.revision <= this.#table.revision)) return;
    const previous = this.routes;
    this.routes = buildRoutes(table, previous.upstreams, this.#balancer);
    this.#table = table;
    for (const [key, upstream] of previous.upstreams) {
      if (!this.routes.upstreams.has(key)) void upstream.close();
    }
    for (const listener of this.#listeners) {
      try {
        listener(table);
      } catch (err) {
        this.#log.warn({ err }, 'A routing-table listener threw; the table is applied regardless.');
      }
    }
  }
}
