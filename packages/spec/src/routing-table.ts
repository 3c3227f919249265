import { DEFAULT_RESILIENCE, stableVersionOf } from './mesh-schema.ts';
import type { AuthorizationRule, GatewaySpec, MtlsMode, ResilienceSpec, TrafficRule } from './schema.ts';

/**
 * The routing table: what the control plane pushes to the data plane (gateway and mesh clients)
 * over the watch stream. It is the local stand-in for Envoy's xDS. Every change gets a higher
 * `revision`; a data-plane process keeps the last table it received, so traffic keeps flowing
 * while the control plane is away.
 */
export interface RoutingTable {
  /** Increases by at least one on every change. */
  revision: number;
  system: string;
  services: Record<string, ServiceRoutes>;
  gateway: GatewaySpec;
  mesh: MeshTable;
}

/** The system-wide part of the mesh, as every data-plane process needs it. */
export interface MeshTable {
  mtls: MtlsMode;
  versionAffinity: boolean;
  /**
   * PEM roots every process trusts for peer certificates. During a CA rotation it holds the old
   * root and the new one, until every certificate is re-issued by the new one. Empty under
   * `mtls: disable`.
   */
  trustBundle: string[];
}

export interface ServiceRoutes {
  /** Versions with their traffic weight (percent) and labels. */
  versions: Record<string, { weight: number; labels: Record<string, string> }>;
  /** Ready endpoints only. An instance that is starting, unready or stopping is not listed. */
  endpoints: Endpoint[];
  /**
   * Where a request pinned to a version the service does not have goes: the version with the
   * highest weight, the first declared on a tie.
   */
  stableVersion: string;
  /** The service's traffic rules, in order; the first that matches a request applies. */
  traffic: TrafficRule[];
  /** The service's resilience with `mesh.resilience` filled in under its overrides. */
  resilience: ResilienceSpec;
  /** Allowed callers; null when the service has no policy (any workload may call). */
  authorization: AuthorizationRule[] | null;
}

export interface Endpoint {
  /** Instance id, unique within the system (`orders-v1-3`). */
  id: string;
  service: string;
  version: string;
  host: string;
  port: number;
  /**
   * The instance holds a workload certificate (it asked the CA for one, as every instance on the
   * runtime does): callers reach it over mutual TLS. Under `permissive` an endpoint without one (a
   * process that does not speak TLS) is called in plaintext, as Istio's auto mTLS does; under
   * `strict` every call is mutual TLS.
   */
  mtls?: boolean;
}

/** Paths of the control plane's data-plane API (data-plane token) and admin API (admin token). */
export const CONTROL_PATHS = {
  /** Server-sent events: `event: table`, `id: <revision>`, `data: <RoutingTable JSON>`. */
  watch: '/v1/watch',
  /** The current table as JSON. */
  table: '/v1/table',
  status: '/v1/status',
  scale: '/v1/services/:service/scale',
  logs: '/v1/services/:service/logs',
  shutdown: '/v1/shutdown',
  /** Mail the SMTP sink received, newest first (`?to=&limit=`). */
  mail: '/v1/mail',
  mailMessage: '/v1/mail/:id',
  /** Events the consuming services gave up on, oldest first (`?service=&limit=`). */
  deadLetters: '/v1/dead-letters',
  /**
   * An instance's certificate: POST `{ "publicKey": "<SPKI PEM>" }` with the instance's own token
   * (FLOTILLA_INSTANCE_TOKEN), answered with `{ certificate, chain, notAfter }` (PEM).
   */
  certificate: '/v1/certificate',
  /** Outlier ejections a process reports (`{ "ejected": [...] }`, instance token); shown in status. */
  outliers: '/v1/outliers',
  /** Starts a CA rotation (admin): a new root, trusted beside the old one until every certificate is re-issued. */
  caRotate: '/v1/ca/rotate',
  /** Sends dead letters back to their subscriptions: `{"service", "ids": [...]}` or `{"service", "all": true}`. */
  deadLettersReplay: '/v1/dead-letters/replay',
} as const;

/** The mesh part of a table for plaintext with no affinity: what a table built by hand starts from. */
export const PLAINTEXT_MESH: MeshTable = Object.freeze({
  mtls: 'disable',
  versionAffinity: false,
  trustBundle: [],
});

/**
 * A service's routes from its versions and endpoints, the rest at the defaults (no rules, default
 * resilience, no policy) unless given: for tables built by hand (tests, benchmarks).
 */
export function serviceRoutesOf(
  routes: Pick<ServiceRoutes, 'versions' | 'endpoints'> & Partial<ServiceRoutes>,
): ServiceRoutes {
  return {
    stableVersion: stableVersionOf(routes.versions),
    traffic: [],
    resilience: DEFAULT_RESILIENCE,
    authorization: null,
    ...routes,
  };
}
