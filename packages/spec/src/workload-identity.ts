/**
 * Workload identities, as the URI SAN of an instance's certificate. The form follows Istio's
 * SPIFFE IDs (`spiffe://cluster.local/ns/<namespace>/sa/<account>`) with the system as namespace
 * and the service as account, so policies read the same on a cluster, plus the version.
 */
export const TRUST_DOMAIN = 'flotilla.local';

/** Who a certificate says a process is. */
export interface WorkloadIdentity {
  system: string;
  /** Service name, or `gateway`. */
  service: string;
  version: string;
}

const PATTERN = /^spiffe:\/\/flotilla\.local\/ns\/([a-z0-9-]+)\/sa\/([a-z0-9-]+)\/v\/([a-z0-9.-]+)$/;

/** The URI SAN of a workload: `spiffe://flotilla.local/ns/<system>/sa/<service>/v/<version>`. */
export function workloadUri(identity: WorkloadIdentity): string {
  return `spiffe://${TRUST_DOMAIN}/ns/${identity.system}/sa/${identity.service}/v/${identity.version}`;
}

/** Reads a URI SAN written by workloadUri; undefined for anything else. */
export function parseWorkloadUri(uri: string): WorkloadIdentity | undefined {
  const m = PATTERN.exec(uri);
  return m === null ? undefined : { system: m[1]!, service: m[2]!, version: m[3]! };
}
