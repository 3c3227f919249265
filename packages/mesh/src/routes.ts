import type { RoutingTable } from '@flotilla/spec';
import { type BalancerKind, createBalancer } from './balancer/index.ts';
import { Destination } from './destination.ts';
import { compileRules } from './routing/index.ts';
import { ServiceRoute, type VersionGroup } from './service-route.ts';
import { Upstream, type UpstreamTls, upstreamKey } from './upstream.ts';

/** A routing table turned into what a call needs: per service its versions, endpoints, rules and state. */
export interface Routes {
  readonly services: ReadonlyMap<string, ServiceRoute>;
  /** Every endpoint of the table by key; the client closes the pools of keys that disappear. */
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** The calling workload's labels, as `sourceLabels` rules read them. */
  readonly sourceLabels: Readonly<Record<string, string>>;
}

/** Routes with no service at all: what a client has before its first table. */
export const NO_ROUTES: Routes = { services: new Map(), upstreams: new Map(), sourceLabels: {} };

/** What building routes needs beyond the table. */
export interface RouteInputs {
  /** Endpoints already known keep their Upstream, so pools and in-flight counts carry over. */
  current: ReadonlyMap<string, Upstream>;
  /** Per-service state of the client, created here for new services. */
  destinations: Map<string, Destination>;
  balancer: BalancerKind;
  source: { workload: string; version: string };
  /** Mutual TLS towards a service, or undefined for plaintext (no certificate, or `mtls: disable`). */
  tlsFor(service: string): UpstreamTls | undefined;
  onEjections(): void;
}

/** Builds the routes of a table. */
export function buildRoutes(table: RoutingTable, inputs: RouteInputs): Routes {
  const upstreams = new Map<string, Upstream>();
  const services = new Map<string, ServiceRoute>();
  for (const [service, routes] of Object.entries(table.services)) {
    const tls = inputs.tlsFor(service);
    const maxConnections = routes.resilience.circuitBreaker.maxConnectionsPerEndpoint;
    const byVersion = new Map<string, Upstream[]>();
    const ids = new Map<string, Set<string>>();
    for (const endpoint of routes.endpoints) {
      // Auto mutual TLS, as Istio's: under permissive an endpoint that holds no certificate (a
      // process that does not speak TLS) is called in plaintext; under strict every call is TLS.
      const endpointTls =
        tls !== undefined && (table.mesh.mtls === 'strict' || endpoint.mtls === true) ? tls : undefined;
      const key = upstreamKey(endpoint, endpointTls !== undefined);
      const upstream =
        upstreams.get(key) ?? inputs.current.get(key) ?? new Upstream(endpoint, maxConnections, endpointTls);
      upstreams.set(key, upstream);
      const list = byVersion.get(endpoint.version);
      if (list === undefined) byVersion.set(endpoint.version, [upstream]);
      else list.push(upstream);
      const versionIds = ids.get(endpoint.version);
      if (versionIds === undefined) ids.set(endpoint.version, new Set([endpoint.id]));
      else versionIds.add(endpoint.id);
    }
    const groups: VersionGroup[] = [];
    for (const [version, list] of byVersion) {
      // An endpoint of a version the split does not name gets weight 0: it serves only as a fallback.
      const weight = routes.versions[version]?.weight ?? 0;
      groups.push({ name: version, weight, upstreams: list, balancer: createBalancer(inputs.balancer) });
    }
    let destination = inputs.destinations.get(service);
    if (destination === undefined) {
      destination = new Destination(service, routes.resilience, inputs.onEjections);
      inputs.destinations.set(service, destination);
    } else {
      destination.configure(routes.resilience);
    }
    destination.retain(ids);
    services.set(
      service,
      new ServiceRoute({
        name: service,
        groups,
        stableVersion: routes.stableVersion,
        rules: compileRules(routes.traffic, Object.keys(routes.versions)),
        resilience: routes.resilience,
        destination,
      }),
    );
  }
  for (const service of inputs.destinations.keys()) {
    if (!services.has(service)) inputs.destinations.delete(service);
  }
  const { workload, version } = inputs.source;
  const labels = table.services[workload]?.versions[version]?.labels;
  return { services, upstreams, sourceLabels: { ...labels, app: workload, version } };
}
