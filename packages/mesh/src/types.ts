import type { RoutingTable } from '@flotilla/spec';
import type { Dispatcher } from 'undici';

/** Who is calling: metrics labels (source_workload, source_version) and `sourceLabels` rules. */
export interface MeshSource {
  workload: string;
  version: string;
}

/**
 * What the process knows about the inbound request a call is made on behalf of. The runtime keeps
 * one per request (AsyncLocalStorage) and hands it to the client through `MeshClientOptions.scope`,
 * so that service code calls `mesh.request()` and the pin, the deadline and the trace travel on.
 */
export interface CallScope {
  /** The inbound W3C `baggage` header, sent on unchanged except for the version pin member. */
  readonly baggage: string | undefined;
  /** The inbound `traceparent`; a child span id is not minted here (that is the tracer's job). */
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  /** The version this request is pinned to (`x-flotilla-version`, the baggage, or affinity). */
  readonly pin: string | undefined;
  /** `performance.now()` at which the inbound caller gives up; calls never outlive it. */
  readonly deadline: number | undefined;
  /** Aborts when the inbound request is cancelled (the caller went away or its deadline passed). */
  readonly signal: AbortSignal | undefined;
  /**
   * The inbound request is a mirrored copy (`x-flotilla-mirror`): the calls it makes are marked as
   * copies too, so that no hop down the chain takes them for real requests.
   */
  readonly mirrored: boolean;
  /** Called when a pinned call went to the stable version because the pinned one does not exist. */
  fellBack(service: string, version: string): void;
}

/** Where the client reports trouble with the watch stream; a pino logger fits. */
export interface MeshLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface MeshClientOptions {
  source: MeshSource;
  /** Control plane base URL; the client follows its watch stream. Omit when `table` is given. */
  controlUrl?: string;
  /** Data-plane bearer token for the watch stream. */
  token?: string;
  /** A fixed routing table (tests, benchmarks, or a process started without a control plane). */
  table?: RoutingTable;
  /** Endpoint picker. @default 'least-request' */
  balancer?: 'least-request' | 'round-robin';
  /** Receives watch-stream problems (a refused token, the control plane gone) and recoveries. @default process warnings */
  log?: MeshLogger;
  /** Largest response body `request()` buffers; a larger one fails the call. @default 10 MiB */
  maxResponseBytes?: number;
  /** The inbound request the current call serves, if any (the runtime's AsyncLocalStorage). */
  scope?: () => CallScope | undefined;
  /**
   * The process's workload certificate, for mutual TLS when the table's `mesh.mtls` is not
   * `disable`. Without it, calls are plaintext and a `strict` destination refuses them.
   */
  certificate?: WorkloadCertificate;
  /** Where outlier ejections are reported for `flotilla status`: the instance's id and token. */
  instance?: { id: string; token: string };
}

/** A key and certificate that are renewed in place; the client reads the current one per connection. */
export interface WorkloadCertificate {
  /** PEM private key and certificate chain (leaf first) in force now. */
  current(): { key: string; cert: string };
  /** Called after every renewal; returns an unsubscribe function. */
  onRenew(listener: () => void): () => void;
  /**
   * The client calls it with every table's trust bundle: a certificate whose issuer is not the
   * newest root (the bundle's last element) renews at once, which is how a CA rotation completes.
   */
  trustBundleChanged?(trustBundle: readonly string[]): void;
}

/** Options of one streaming call: undici's dispatch options, addressed to a service instead of an origin. */
export interface MeshDispatchOptions extends Omit<Dispatcher.DispatchOptions, 'origin'> {
  service: string;
  /** Deadline for the whole call, response body included; else the matching rule's or the service's. */
  timeoutMs?: number;
  /**
   * A bound on whichever deadline applies, that no rule or service timeout extends: the gateway's
   * route timeout, under which the destination's own rules still apply.
   */
  maxTimeoutMs?: number;
}

/** A call with a buffered response, for services calling services. */
export interface MeshRequest {
  service: string;
  method?: string;
  /** Path and query, starting with "/". */
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer | null;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface MeshResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The endpoint that answered. */
  endpoint: { id: string; version: string };
  json<T = unknown>(): T;
  text(): string;
}

/** The service-to-service client: discovery from the watch stream, load balancing, undici underneath. */
export interface MeshClient {
  /** Resolves once a routing table is known (immediately with a static table). Rejects after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  /** The last routing table received; kept when the control plane goes away. */
  table(): RoutingTable | undefined;
  /** Called with every new table; returns an unsubscribe function. */
  onTable(listener: (table: RoutingTable) => void): () => void;
  request(request: MeshRequest): Promise<MeshResponse>;
  /**
   * Starts mutual TLS with this certificate for connections opened from now on, for a process that
   * gets its certificate once its first table says `mesh.mtls` is on (instead of `certificate`).
   */
  setCertificate(certificate: WorkloadCertificate): void;
  /** Streaming call for proxies; the handler follows undici's DispatchHandler contract. */
  dispatch(options: MeshDispatchOptions, handler: Dispatcher.DispatchHandler): void;
  close(): Promise<void>;
}
