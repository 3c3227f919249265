import type { PeerCertificate, TLSSocket } from 'node:tls';
import { parseWorkloadUri, type WorkloadIdentity } from '@flotilla/spec';
import { PeerIdentityError } from '../errors.ts';

/**
 * The workload a subjectAltName names, as OpenSSL prints it (`URI:spiffe://..., DNS:...`).
 * Undefined when no entry is a workload URI, or when two entries name different workloads: a
 * certificate that claims two identities proves neither.
 */
export function workloadIdentityOfSan(subjectAltName: string | undefined): WorkloadIdentity | undefined {
  let found: WorkloadIdentity | undefined;
  for (const entry of subjectAltName?.split(', ') ?? []) {
    // Node quotes an entry holding a comma or quote; no workload URI can, so a quoted one never parses.
    const identity = entry.startsWith('URI:') ? parseWorkloadUri(entry.slice(4)) : undefined;
    if (identity === undefined) continue;
    if (found !== undefined && !sameIdentity(found, identity)) return undefined;
    found = identity;
  }
  return found;
}

function sameIdentity(a: WorkloadIdentity, b: WorkloadIdentity): boolean {
  return a.system === b.system && a.service === b.service && a.version === b.version;
}

const identities = new WeakMap<TLSSocket, WorkloadIdentity | null>();

/**
 * Who is on the other end of a TLS connection: the workload its certificate names, only when the
 * chain verified against the trust bundle (`socket.authorized`); undefined otherwise. Remembered
 * per socket, since it is asked on every request of a keep-alive connection and TLS 1.3 has no
 * renegotiation that could change the peer.
 */
export function peerIdentity(socket: TLSSocket): WorkloadIdentity | undefined {
  if (!socket.authorized) return undefined;
  let identity = identities.get(socket);
  if (identity === undefined) {
    identity = workloadIdentityOfSan(socket.getPeerX509Certificate()?.subjectAltName) ?? null;
    identities.set(socket, identity);
  }
  return identity ?? undefined;
}

/**
 * The `checkServerIdentity` of a mesh connection to `service` of `system`: accepts a server whose
 * certificate names a workload of that service (any version) and refuses any other, so that an
 * instance cannot answer for a service it is not. Hostnames are not checked; every instance is on
 * 127.0.0.1. Node calls it only after the chain verified, and not on a resumed session.
 */
export function checkServerIdentity(
  expectedService: string,
  system: string,
): (hostname: string, cert: PeerCertificate) => Error | undefined {
  return function checkWorkloadIdentity(_hostname, cert) {
    const identity = workloadIdentityOfSan(cert.subjectaltname);
    if (identity?.system === system && identity.service === expectedService) return undefined;
    return new PeerIdentityError({ system, service: expectedService }, cert.subjectaltname);
  };
}
