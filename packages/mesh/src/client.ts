import type { RoutingTable } from '@flotilla/spec';
import { type Dispatcher, errors } from 'undici';
import type { BalancerKind } from './balancer/index.ts';
import { MESH_DEFAULTS } from './defaults.ts';
import type { Destination } from './destination.ts';
import { WatchError } from './errors.ts';
import { type CallContext, MeshCall } from './mesh-call.ts';
import { OutlierReport } from './outlier-report.ts';
import { ResponseCollector } from './response-collector.ts';
import { buildRoutes, NO_ROUTES, type Routes } from './routes.ts';
import { checkServerIdentity } from './tls/peer-identity.ts';
import { WorkloadTls } from './tls/tls-context.ts';
import type {
  CallScope,
  MeshClient,
  MeshClientOptions,
  MeshDispatchOptions,
  MeshLogger,
  MeshRequest,
  MeshResponse,
  MeshSource,
  WorkloadCertificate,
} from './types.ts';
import type { UpstreamTls } from './upstream.ts';
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
  readonly #destinations = new Map<string, Destination>();
  readonly #scope: (() => CallScope | undefined) | undefined;
  #certificate: WorkloadCertificate | undefined;
  #tls: WorkloadTls | undefined;
  readonly #report: OutlierReport | undefined;
  #table: RoutingTable | undefined;
  #trustBundle: readonly string[] = [];

  constructor(options: MeshClientOptions) {
    this.source = { workload: options.source.workload, version: options.source.version };
    this.#balancer = options.balancer ?? MESH_DEFAULTS.balancer;
    this.#maxResponseBytes = options.maxResponseBytes ?? MESH_DEFAULTS.maxResponseBytes;
    this.#log = options.log ?? WARNING_LOGGER;
    this.#controlUrl = options.controlUrl;
    this.#scope = options.scope;
    this.#certificate = options.certificate;
    if (options.certificate !== undefined) this.#useCertificate(options.certificate);
    if (options.controlUrl !== undefined && options.instance !== undefined) {
      this.#report = new OutlierReport(
        options.controlUrl,
        options.instance.token,
        () => this.#ejected(),
        this.#log,
      );
    }
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

  setCertificate(certificate: WorkloadCertificate): void {
    if (this.closed) return;
    this.#useCertificate(certificate);
    const table = this.#table;
    if (table !== undefined) {
      // The same table again, now with mutual TLS: new pools, no news for listeners.
      this.#table = undefined;
      this.#apply(table, false);
    }
  }

  scope(): CallScope | undefined {
    return this.#scope?.();
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
    this.#report?.close();
    await this.#watch?.close();
    await Promise.all([...this.routes.upstreams.values()].map((upstream) => upstream.close()));
  }

  /**
   * Switches to a table when it is newer than the one held. Endpoints that left close their pools
   * gracefully: calls already on them finish, new calls no longer see them.
   */
  #apply(table: RoutingTable, notify = true): void {
    if (this.closed || (this.#table !== undefined && table.revision <= this.#table.revision)) return;
    const previous = this.routes;
    this.#certificate?.trustBundleChanged?.(table.mesh.trustBundle);
    this.#trustBundle = table.mesh.trustBundle;
    const tlsOn = this.#tls !== undefined && table.mesh.mtls !== 'disable';
    this.routes = buildRoutes(table, {
      current: previous.upstreams,
      destinations: this.#destinations,
      balancer: this.#balancer,
      source: this.source,
      tlsFor: (service) => (tlsOn ? this.#upstreamTls(service, table.system) : undefined),
      onEjections: () => this.#report?.changed(),
    });
    this.#table = table;
    for (const [key, upstream] of previous.upstreams) {
      if (!this.routes.upstreams.has(key)) void upstream.close();
    }
    if (!notify) return;
    for (const listener of this.#listeners) {
      try {
        listener(table);
      } catch (err) {
        this.#log.warn({ err }, 'A routing-table listener threw; the table is applied regardless.');
      }
    }
  }

  #useCertificate(certificate: WorkloadCertificate): void {
    this.#certificate = certificate;
    // Peers are verified against the newest table's trust bundle, which a CA rotation changes.
    this.#tls = new WorkloadTls({
      current: () => certificate.current(),
      trustBundle: () => this.#trustBundle,
    });
  }

  #upstreamTls(service: string, system: string): UpstreamTls {
    // Read at each connect: a certificate set later replaces the one a pool was built with.
    return { context: () => this.#tls!.context(), checkServerIdentity: checkServerIdentity(service, system) };
  }

  #ejected() {
    return [...this.#destinations.values()].flatMap((destination) => destination.ejected());
  }
}
