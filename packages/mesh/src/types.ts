import type { RoutingTable } from '@flotilla/spec';
import type { Dispatcher } from 'undici';

/** Who is calling: used for metrics labels (source_workload, source_version) and, later, routing rules. */
export interface MeshSource {
  workload: string;
  version: string;
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
}

/** Options of one streaming call: undici's dispatch options, addressed to a service instead of an origin. */
export interface MeshDispatchOptions extends Omit<Dispatcher.DispatchOptions, 'origin'> {
  service: string;
  /** Deadline for the whole call, response body included. */
  timeoutMs?: number;
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
  /** Streaming call for proxies; the handler follows undici's DispatchHandler contract. */
  dispatch(options: MeshDispatchOptions, handler: Dispatcher.DispatchHandler): void;
  close(): Promise<void>;
}
