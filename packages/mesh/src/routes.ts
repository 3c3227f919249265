import type { RoutingTable } from '@flotilla/spec';
import { type BalancerKind, createBalancer } from './balancer/index.ts';
import { ServiceRoute, type VersionGroup } from './service-route.ts';
import { Upstream, upstreamKey } from './upstream.ts';

/** A routing table turned into what a call needs: per service its versions, endpoints and balancers. */
export interface Routes {
  readonly services: ReadonlyMap<string, ServiceRoute>;
  /** Every endpoint of the table by key; the client closes the pools of keys that disappear. */
  readonly upstreams: ReadonlyMap<string, Upstream>;
}

/** Routes with no service at all: what a client has before its first table. */
export const NO_ROUTES: Routes = { services: new Map(), upstreams: new Map() };

/**
 * Builds the routes of a table. Endpoints already known (`current`) keep their Upstream, so their
 * pools and in-flight counts carry over from one table to the next.
 */
export function buildRoutes(
  table: RoutingTable,
  current: ReadonlyMap<string, Upstream>,
  balancer: BalancerKind,
): Routes {
  const upstreams = new Map<string, Upstream>();
  const services = new Map<string, ServiceRoute>();
  for (const [service, routes] of Object.entries(table.services)) {
    const byVersion = new Map<string, Upstream[]>();
    for (const endpoint of routes.endpoints) {
      const key = upstreamKey(endpoint);
      const upstream = upstreams.get(key) ?? current.get(key) ?? new Upstream(endpoint);
      upstreams.set(key, upstream);
      const list = byVersion.get(endpoint.version);
      if (list === undefined) byVersion.set(endpoint.version, [upstream]);
      else list.push(upstream);
    }
    const groups: VersionGroup[] = [];
    for (const [version, list] of byVersion) {
      // An endpoint of a version the split does not name gets weight 0: it serves only as a fallback.
      const weight = routes.versions[version]?.weight ?? 0;
      groups.push({ name: version, weight, upstreams: list, balancer: createBalancer(balancer) });
    }
    services.set(service, new ServiceRoute(service, groups));
  }
  return { services, upstreams };
}
