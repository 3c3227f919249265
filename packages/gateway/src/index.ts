export type { AccessRecord } from './access-log.ts';
export { GATEWAY_DEFAULTS } from './defaults.ts';
export { GATEWAY_ERRORS, GatewayError, type GatewayErrorCode } from './errors.ts';
export { createGateway, type Gateway, type GatewayOptions } from './gateway.ts';
export { GatewayMetrics } from './metrics.ts';
export type { GatewayContext, Plugin, PluginDeps, PluginFactory, PluginReply } from './plugin.ts';
export type { PluginRegistry } from './plugin-chain.ts';
export type { ResponseFlag } from './response-flags.ts';
