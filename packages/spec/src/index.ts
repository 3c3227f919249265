export { DEFAULTS } from './defaults.ts';
export { SpecError, type SpecIssue } from './errors.ts';
export { HEADERS, VERSION_BAGGAGE_KEY } from './headers.ts';
export { ENV, type InstanceIdentity, readInstanceEnv } from './instance-env.ts';
export { loadSpec, parseSpec, type ServiceSpec, type SystemSpec, type VersionSpec } from './load.ts';
export { DEFAULT_RESILIENCE, resolveResilience, stableVersionOf } from './mesh-schema.ts';
export {
  CONTROL_PATHS,
  type Endpoint,
  type MeshTable,
  PLAINTEXT_MESH,
  type RoutingTable,
  type ServiceRoutes,
  serviceRoutesOf,
} from './routing-table.ts';
export type {
  AuthorizationRule,
  BusSpec,
  CorsConfig,
  FaultSpec,
  GatewaySpec,
  HeadersConfig,
  JwtConfig,
  MeshSpec,
  MtlsMode,
  PluginsConfig,
  ProbeSpec,
  RateLimitConfig,
  ResilienceOverride,
  ResilienceSpec,
  RetryOn,
  RetryPolicy,
  RoutePluginsConfig,
  RouteSpec,
  SecretSpec,
  ServiceEventsSpec,
  SmtpSpec,
  StringMatch,
  SystemSpecInput,
  TrafficMatch,
  TrafficRule,
} from './schema.ts';
export { closest } from './suggest.ts';
export { parseWorkloadUri, TRUST_DOMAIN, type WorkloadIdentity, workloadUri } from './workload-identity.ts';
