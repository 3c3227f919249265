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
