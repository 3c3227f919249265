import { type CorsConfig, DEFAULTS } from '@flotilla/spec';
import { GatewayError } from '../../errors.ts';
import type { PluginFactory } from '../../plugin.ts';
import { PluginConfigError } from '../plugin-config-error.ts';

/** `scheme://host[:port]` in lowercase, as a browser serializes an origin: no path, no trailing slash. */
const SERIALIZED_ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s@A-Z]+$/;
const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

/** The cors config, where what the spec parser would fill in may be left out (a config built in code). */
export type CorsOptions = Pick<CorsConfig, 'origins'> & Partial<CorsConfig>;

/**
 * Answers CORS for browsers. Preflights are answered here (204, or 403 CORS_REJECTED) and never
 * reach the service. An actual request from an origin that is not allowed is passed through
 * without CORS headers rather than rejected: the browser then withholds the answer from the page,
 * while same-origin pages (whose POSTs also carry Origin) and non-browser clients keep working.
 * The gateway owns CORS on a route that has this plugin: CORS headers from the service are dropped.
 */
export const cors: PluginFactory<CorsOptions> = (options) => {
  const config: CorsConfig = {
    ...DEFAULTS.gateway.cors,
    methods: [...DEFAULTS.gateway.cors.methods],
    allowHeaders: [],
    exposeHeaders: [],
    ...options,
  };
  const anyOrigin = config.origins.includes('*');
  if (anyOrigin && config.credentials) {
    throw new PluginConfigError(
      'cors',
      'origins "*" cannot be combined with credentials: true; list the origins that may send credentials',
    );
  }
  for (const origin of config.origins) {
    if (origin !== '*' && !SERIALIZED_ORIGIN.test(origin)) {
      throw new PluginConfigError(
        'cors',
        `"${origin}" is not an origin as browsers send it; write scheme://host[:port] in lowercase, without a path`,
      );
    }
  }
  const listed = new Set(config.origins);
  const methods = new Set<string>(config.methods);
  const allowHeaders = new Set(config.allowHeaders.map((h) => h.toLowerCase()));
  const actualHeaders: Record<string, string> = {};
  if (config.credentials) actualHeaders['access-control-allow-credentials'] = 'true';
  if (config.exposeHeaders.length > 0) {
    actualHeaders['access-control-expose-headers'] = config.exposeHeaders.join(', ');
  }
  const preflightHeaders: Record<string, string> = {
    ...(config.credentials ? { 'access-control-allow-credentials': 'true' } : {}),
    'access-control-allow-methods': config.methods.join(', '),
    'access-control-max-age': String(config.maxAgeS),
    vary: PREFLIGHT_VARY,
  };

  /** The Access-Control-Allow-Origin value for `origin`; undefined when it is not allowed. */
  const allowOrigin = (origin: string | undefined): string | undefined => {
    // A `null` origin comes from sandboxed frames and local files: anyone can produce one.
    if (origin === undefined || origin === 'null') return undefined;
    if (anyOrigin) return '*';
    return listed.has(origin) ? origin : undefined;
  };

  return {
    name: 'cors',
    onRequest(ctx) {
      const { origin } = ctx.req.headers;
      const requestedMethod = ctx.req.headers['access-control-request-method'];
      if (ctx.req.method !== 'OPTIONS' || origin === undefined || requestedMethod === undefined) return;
      const allowed = allowOrigin(origin);
      if (allowed === undefined || !methods.has(requestedMethod)) {
        throw new GatewayError('CORS_REJECTED', { headers: { vary: PREFLIGHT_VARY } });
      }
      const headers: Record<string, string> = { ...preflightHeaders, 'access-control-allow-origin': allowed };
      const granted = (ctx.req.headers['access-control-request-headers'] ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter((h) => allowHeaders.has(h));
      if (granted.length > 0) headers['access-control-allow-headers'] = granted.join(', ');
      return { statusCode: 204, headers };
    },
    onResponse(ctx, _statusCode, headers) {
      addVaryOrigin(headers);
      if (ctx.req.method === 'OPTIONS' && ctx.req.headers['access-control-request-method'] !== undefined) {
        return;
      }
      for (const name of Object.keys(headers)) {
        if (name.toLowerCase().startsWith('access-control-')) delete headers[name];
      }
      const allowed = allowOrigin(ctx.req.headers.origin);
      if (allowed === undefined) return;
      Object.assign(headers, actualHeaders);
      headers['access-control-allow-origin'] = allowed;
    },
  };
};

/** Adds Origin to Vary, keeping what the service put there, since the answer depends on the origin. */
function addVaryOrigin(headers: Record<string, string | string[]>): void {
  const name = Object.keys(headers).find((n) => n.toLowerCase() === 'vary');
  if (name === undefined) {
    headers.vary = 'Origin';
    return;
  }
  const current = headers[name];
  const value = Array.isArray(current) ? current.join(', ') : (current ?? '');
  const tokens = value.split(',').map((t) => t.trim().toLowerCase());
  if (!tokens.includes('origin') && !tokens.includes('*'))
    headers[name] = value ? `${value}, Origin` : 'Origin';
}
