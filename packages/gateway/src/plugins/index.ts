import type { HeadersConfig } from '@flotilla/spec';
import type { PluginFactory } from '../plugin.ts';
import { type BodyLimitConfig, bodyLimit } from './body-limit/index.ts';
import { type CorsOptions, cors } from './cors/index.ts';
import { headers } from './headers/index.ts';
import { type JwtOptions, jwt } from './jwt/index.ts';
import { type RateLimitOptions, rateLimit } from './rate-limit/index.ts';
import { type RequestIdConfig, requestId } from './request-id/index.ts';

export type { BodyLimitConfig } from './body-limit/index.ts';
export type { CorsOptions } from './cors/index.ts';
export type { JwtOptions } from './jwt/index.ts';
export { PluginConfigError } from './plugin-config-error.ts';
export type { RateLimitOptions } from './rate-limit/index.ts';
export type { RequestIdConfig } from './request-id/index.ts';

/** The config each plugin takes, by plugin name: the spec's, where the defaults it fills may be left out. */
export interface PluginConfigs {
  requestId: RequestIdConfig;
  cors: CorsOptions;
  bodyLimit: BodyLimitConfig;
  jwt: JwtOptions;
  rateLimit: RateLimitOptions;
  headers: HeadersConfig;
}

/** A plugin's name. */
export type PluginName = keyof PluginConfigs;

/** Every plugin factory, by name, in run order (PLUGIN_ORDER): the gateway builds a route's chain in key order. */
export const plugins: { readonly [Name in PluginName]: PluginFactory<PluginConfigs[Name]> } = {
  requestId,
  cors,
  bodyLimit,
  jwt,
  rateLimit,
  headers,
};

/**
 * The order plugins run in. requestId first, so every log and error carries the id; cors before
 * jwt, so a preflight (which carries no token) is answered; bodyLimit before jwt, so an oversized
 * body is refused without the cost of a signature check; rateLimit after jwt, so it can key by the
 * verified subject; headers last, so its edits are what the service gets.
 */
export const PLUGIN_ORDER = [
  'requestId',
  'cors',
  'bodyLimit',
  'jwt',
  'rateLimit',
  'headers',
] as const satisfies readonly PluginName[];
