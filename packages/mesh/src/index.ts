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
  CERTIFICATE_ERRORS,
  CertificateError,
  type CertificateErrorCode,
  MESH_ERRORS,
  MeshError,
  type MeshErrorCode,
  PeerIdentityError,
  WATCH_ERRORS,
  WatchError,
  type WatchErrorCode,
} from './errors.ts';
export { CertificateSource, type CertificateSourceOptions } from './tls/certificate-source.ts';
export { checkServerIdentity, peerIdentity, workloadIdentityOfSan } from './tls/peer-identity.ts';
export { type KeyAndChain, secureContextOf, type TlsMaterial, WorkloadTls } from './tls/tls-context.ts';
export type {
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
