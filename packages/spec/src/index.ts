export { DEFAULTS } from './defaults.ts';
export { SpecError, type SpecIssue } from './errors.ts';
export { HEADERS } from './headers.ts';
export { ENV, type InstanceIdentity, readInstanceEnv } from './instance-env.ts';
export { loadSpec, parseSpec, type ServiceSpec, type SystemSpec, type VersionSpec } from './load.ts';
export { CONTROL_PATHS, type Endpoint, type RoutingTable, type ServiceRoutes } from './routing-table.ts';
export type {
  BusSpec,
  CorsConfig,
  GatewaySpec,
  HeadersConfig,
  JwtConfig,
  PluginsConfig,
  ProbeSpec,
  RateLimitConfig,
  RoutePluginsConfig,
  RouteSpec,
  SecretSpec,
  ServiceEventsSpec,
  SmtpSpec,
  SystemSpecInput,
} from './schema.ts';
export { closest } from './suggest.ts';
