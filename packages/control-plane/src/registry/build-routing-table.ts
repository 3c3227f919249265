import { isDeepStrictEqual } from 'node:util';
import {
  type Endpoint,
  type MeshTable,
  type RoutingTable,
  resolveResilience,
  type ServiceRoutes,
  type SystemSpec,
  stableVersionOf,
} from '@flotilla/spec';
import type { InstanceStatus } from '../types.ts';
import { INSTANCE_HOST } from './instance-host.ts';

/**
 * The routing table for the data plane: every service of the spec with its versions' weights and
 * labels, its ready endpoints, its traffic rules, resilience and authorization, the gateway's spec,
 * and the mesh's system-wide settings with the roots to trust (`trustBundle`); an endpoint is
 * marked `mtls` once its instance holds a certificate (`certified`). Pure. When nothing but the revision would
 * change, `previous` itself is returned, so callers can tell "no change" by identity and the data
 * plane never sees a new revision without new content.
 */
export function buildRoutingTable(
  spec: SystemSpec,
  instances: readonly InstanceStatus[],
  previous: RoutingTable | undefined,
  trustBundle: readonly string[] = [],
  certified: ReadonlySet<string> = new Set(),
): RoutingTable {
  const services: Record<string, ServiceRoutes> = {};
  for (const [name, service] of Object.entries(spec.services)) {
    const versions: ServiceRoutes['versions'] = {};
    for (const [version, v] of Object.entries(service.versions)) {
      versions[version] = { weight: v.weight, labels: v.labels };
    }
    const endpoints: Endpoint[] = instances
      .filter((i) => i.service === name && i.state === 'ready' && Object.hasOwn(versions, i.version))
      .map((i) => ({
        id: i.id,
        service: name,
        version: i.version,
        host: INSTANCE_HOST,
        port: i.port,
        mtls: certified.has(i.id),
      }))
      .sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
    services[name] = {
      versions,
      endpoints,
      stableVersion: stableVersionOf(versions),
      traffic: service.traffic,
      resilience: resolveResilience(spec.mesh.resilience, service.resilience),
      authorization: service.authorization ?? null,
    };
  }
  const mesh: MeshTable = {
    mtls: spec.mesh.mtls,
    versionAffinity: spec.mesh.versionAffinity,
    trustBundle: spec.mesh.mtls === 'disable' ? [] : [...trustBundle],
  };
  const content = { system: spec.name, services, gateway: spec.gateway, mesh };
  if (previous && isDeepStrictEqual({ ...previous, revision: 0 }, { ...content, revision: 0 })) {
    return previous;
  }
  return { revision: (previous?.revision ?? 0) + 1, ...content };
}
