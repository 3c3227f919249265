export {
  type Balancer,
  type BalancerKind,
  type BalancerTarget,
  createBalancer,
  LeastRequestBalancer,
  RoundRobinBalancer,
} from './balancer/index.ts';
export { createMeshClient } from './client.ts';
export { MESH_DEFAULTS } from './defaults.ts';
export { MESH_REQUEST_CHANNEL, type MeshRequestMessage } from './diagnostics.ts';
export {
  MESH_ERRORS,
  MeshError,
  type MeshErrorCode,
  WATCH_ERRORS,
  WatchError,
  type WatchErrorCode,
} from './errors.ts';
export type {
  MeshClient,
  MeshClientOptions,
  MeshDispatchOptions,
  MeshLogger,
  MeshRequest,
  MeshResponse,
  MeshSource,
} from './types.ts';
export { CertificateSource, type CertificateSourceOptions } from './tls/certificate-source.ts';
export { checkServerIdentity, peerIdentity } from './tls/peer-identity.ts';
export { WorkloadTls } from './tls/tls-context.ts';
export type { CallScope, WorkloadCertificate } from './types.ts';
export { TLS_DEFAULTS } from './tls/defaults.ts';
export {
  CERTIFICATE_ERRORS,
  CertificateError,
  type CertificateErrorCode,
  PeerIdentityError,
} from './tls/errors.ts';
export { workloadIdentityOfSan } from './tls/peer-identity.ts';
export { type KeyAndChain, secureContextOf, type TlsMaterial } from './tls/tls-context.ts';
