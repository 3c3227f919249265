import type { CorsConfig } from '@flotilla/spec';
import { describe, expect, it } from 'vitest';
import type { PluginReply } from '../../plugin.ts';
import { PluginConfigError } from '../plugin-config-error.ts';
import { createTestContext, createTestDeps, runRequest } from '../test-context.ts';
import { cors } from './index.ts';

const SHOP = 'https://shop.example';
const deps = createTestDeps();

function config(overrides: Partial<CorsConfig> = {}): CorsConfig {
  return {
    origins: [SHOP],
    methods: ['GET', 'POST', 'DELETE'],
    allowHeaders: ['Content-Type', 'Authorization'],
    exposeHeaders: [],
    credentials: false,
    maxAgeS: 600,
    ...overrides,
  };
}

function preflight(origin: string, method = 'POST', requestHeaders?: string) {
  return createTestContext({
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': method,
      ...(requestHeaders === undefined ? {} : { 'access-control-request-headers': requestHeaders }),
    },
  });
}

/** Runs an actual (non-preflight) request through the plugin and returns the headers the client gets. */
async function actual(
  options: Partial<CorsConfig>,
  headers: Record<string, string>,
  upstream: Record<string, string | string[]> = {},
) {
  const plugin = cors(config(options), deps);
  const ctx = createTestContext({ method: 'POST', headers });
  expect(await runRequest(plugin, ctx)).toBeUndefined();
  const out = { ...upstream };
  plugin.onResponse?.(ctx, 200, out);
  return out;
}

describe('cors preflight', () => {
  it('answers a preflight from a listed origin itself with 204 and the allowed methods and max age', async () => {
    const reply = (await runRequest(cors(config(), deps), preflight(SHOP))) as PluginReply;
    expect(reply.statusCode).toBe(204);
    expect(reply.headers).toMatchObject({
      'access-control-allow-origin': SHOP,
      'access-control-allow-methods': 'GET, POST, DELETE',
      'access-control-max-age': '600',
    });
    expect(reply.headers?.vary).toMatch(/^Origin\b/);
    expect(reply.headers).not.toHaveProperty('access-control-allow-credentials');
  });

  it('allows only the requested headers that are in the allow-list', async () => {
    const ctx = preflight(SHOP, 'POST', 'Content-Type, X-Evil,authorization');
    const reply = (await runRequest(cors(config(), deps), ctx)) as PluginReply;
    expect(reply.headers?.['access-control-allow-headers']).toBe('content-type, authorization');
  });

  it('sends no Access-Control-Allow-Headers when none of the requested headers is allowed', async () => {
    const reply = (await runRequest(cors(config(), deps), preflight(SHOP, 'GET', 'x-evil'))) as PluginReply;
    expect(reply.headers).not.toHaveProperty('access-control-allow-headers');
  });

  it('rejects a preflight from an unlisted origin with 403 CORS_REJECTED and never echoes the origin', async () => {
    const error = await runRequest(cors(config(), deps), preflight('https://evil.example')).catch((e) => e);
    expect(error).toMatchObject({ code: 'CORS_REJECTED', status: 403 });
    expect(JSON.stringify(error.headers)).not.toContain('evil');
    expect(error.headers.vary).toMatch(/^Origin\b/);
  });

  it('rejects a preflight for a method that is not allowed', async () => {
    const error = await runRequest(cors(config(), deps), preflight(SHOP, 'PUT')).catch((e) => e);
    expect(error).toMatchObject({ code: 'CORS_REJECTED' });
  });

  it('rejects a preflight from the null origin even when any origin is allowed', async () => {
    const error = await runRequest(cors(config({ origins: ['*'] }), deps), preflight('null')).catch((e) => e);
    expect(error).toMatchObject({ code: 'CORS_REJECTED' });
  });

  it('answers * rather than echoing the origin when any origin is allowed', async () => {
    const plugin = cors(config({ origins: ['*'] }), deps);
    const reply = (await runRequest(plugin, preflight('https://anyone.example'))) as PluginReply;
    expect(reply.headers?.['access-control-allow-origin']).toBe('*');
  });

  it('allows credentials in the preflight answer when configured for listed origins', async () => {
    const reply = (await runRequest(
      cors(config({ credentials: true }), deps),
      preflight(SHOP),
    )) as PluginReply;
    expect(reply.headers?.['access-control-allow-credentials']).toBe('true');
  });

  it('treats OPTIONS without Access-Control-Request-Method as an ordinary request for the service', async () => {
    const ctx = createTestContext({ method: 'OPTIONS', headers: { origin: SHOP } });
    expect(await runRequest(cors(config(), deps), ctx)).toBeUndefined();
  });
});

describe('cors actual requests', () => {
  it('adds the allowed origin, credentials and exposed headers to the answer of a listed origin', async () => {
    const headers = await actual(
      { credentials: true, exposeHeaders: ['X-Total', 'RateLimit-Remaining'] },
      { origin: SHOP },
    );
    expect(headers).toMatchObject({
      'access-control-allow-origin': SHOP,
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'X-Total, RateLimit-Remaining',
      vary: 'Origin',
    });
  });

  it('passes a request from an unlisted origin through without any CORS header', async () => {
    const headers = await actual({}, { origin: 'https://evil.example' });
    expect(Object.keys(headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    expect(headers.vary).toBe('Origin');
  });

  it('drops CORS headers the service sent, so a service that echoes any origin cannot widen the policy', async () => {
    const headers = await actual(
      {},
      { origin: 'https://evil.example' },
      { 'Access-Control-Allow-Origin': 'https://evil.example', 'access-control-allow-credentials': 'true' },
    );
    expect(JSON.stringify(headers)).not.toContain('evil');
    expect(JSON.stringify(headers).toLowerCase()).not.toContain('access-control');
  });

  it('sends no CORS headers to the null origin even when any origin is allowed', async () => {
    const headers = await actual({ origins: ['*'] }, { origin: 'null' });
    expect(headers).not.toHaveProperty('access-control-allow-origin');
  });

  it('never sends credentials with * when any origin is allowed', async () => {
    const headers = await actual({ origins: ['*'] }, { origin: 'https://anyone.example' });
    expect(headers['access-control-allow-origin']).toBe('*');
    expect(headers).not.toHaveProperty('access-control-allow-credentials');
  });

  it('adds Origin to the Vary header the service sent, once', async () => {
    expect((await actual({}, { origin: SHOP }, { Vary: 'Accept-Encoding' })).Vary).toBe(
      'Accept-Encoding, Origin',
    );
    expect((await actual({}, { origin: SHOP }, { vary: ['Accept-Encoding', 'origin'] })).vary).toEqual([
      'Accept-Encoding',
      'origin',
    ]);
    expect((await actual({}, { origin: SHOP }, { vary: '*' })).vary).toBe('*');
  });

  it('sends Vary: Origin even to a request without Origin', async () => {
    expect(await actual({}, {})).toEqual({ vary: 'Origin' });
  });
});

describe('cors config', () => {
  it('refuses * together with credentials, which would let any site read answers with the user cookies', () => {
    expect(() => cors(config({ origins: ['*'], credentials: true }), deps)).toThrow(PluginConfigError);
  });

  it.each(['https://shop.example/', 'https://Shop.example', 'shop.example', 'https://shop.example/path'])(
    'refuses the origin %s, which no browser sends',
    (origin) => {
      expect(() => cors(config({ origins: [origin] }), deps)).toThrow(/not an origin as browsers send it/);
    },
  );

  it('fills the spec defaults into a config built in code with origins only', async () => {
    const plugin = cors({ origins: [SHOP] }, deps);
    const reply = (await runRequest(plugin, preflight(SHOP, 'DELETE'))) as PluginReply;
    expect(reply.headers).toMatchObject({ 'access-control-max-age': '600' });
    expect(reply.headers?.['access-control-allow-methods']).toContain('DELETE');
  });

  it('accepts origins with a port and IPv6 hosts', () => {
    expect(() =>
      cors(config({ origins: ['http://localhost:5173', 'http://[::1]:8080'] }), deps),
    ).not.toThrow();
  });
});
