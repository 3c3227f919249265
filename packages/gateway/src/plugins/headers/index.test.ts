import { HEADERS, type HeadersConfig } from '@flotilla/spec';
import { describe, expect, it } from 'vitest';
import { PluginConfigError } from '../plugin-config-error.ts';
import { createTestContext, createTestDeps, runRequest } from '../test-context.ts';
import { headers } from './index.ts';

const deps = createTestDeps();
const edits = (set: Record<string, string> = {}, remove: string[] = []) => ({ set, remove });

describe('headers', () => {
  it('removes and sets request headers on their way to the service', async () => {
    const plugin = headers(
      { request: edits({ 'X-Tenant': 'shop', 'x-debug': 'off' }, ['Cookie', 'x-debug']) },
      deps,
    );
    const ctx = createTestContext({
      headers: { cookie: 'session=1', 'x-debug': 'on', accept: 'text/plain' },
    });
    await runRequest(plugin, ctx);
    expect(ctx.upstreamHeaders).toEqual({ accept: 'text/plain', 'x-tenant': 'shop', 'x-debug': 'off' });
  });

  it('removes and sets response headers whatever case the service used', () => {
    const plugin = headers(
      { response: edits({ 'X-Frame-Options': 'DENY' }, ['server', 'x-powered-by']) },
      deps,
    );
    const out: Record<string, string | string[]> = {
      Server: 'node',
      'X-Powered-By': 'express',
      'x-frame-options': 'ALLOWALL',
      'content-type': 'text/plain',
    };
    plugin.onResponse?.(createTestContext(), 200, out);
    expect(out).toEqual({ 'content-type': 'text/plain', 'x-frame-options': 'DENY' });
  });

  it('changes nothing when a direction has no edits', async () => {
    const plugin = headers({}, deps);
    const ctx = createTestContext({ headers: { accept: '*/*' } });
    await runRequest(plugin, ctx);
    const out = { 'content-type': 'text/plain' };
    plugin.onResponse?.(ctx, 200, out);
    expect(ctx.upstreamHeaders).toEqual({ accept: '*/*' });
    expect(out).toEqual({ 'content-type': 'text/plain' });
  });

  it.each([HEADERS.subject, HEADERS.roles, 'X-Flotilla-Subject'])(
    'refuses at start-up a config that sets the identity header %s',
    (name) => {
      const config: HeadersConfig = { request: edits({ [name]: 'admin' }) };
      expect(() => headers(config, deps)).toThrow(PluginConfigError);
      expect(() => headers(config, deps)).toThrow(/identity headers come only from a verified token/);
      expect(() => headers({ response: edits({ [name]: 'admin' }) }, deps)).toThrow(PluginConfigError);
    },
  );

  it.each(['content-length', 'Transfer-Encoding', 'connection'])(
    'refuses at start-up a config that edits the framing header %s',
    (name) => {
      expect(() => headers({ request: edits({ [name]: '1' }) }, deps)).toThrow(/manages message framing/);
      expect(() => headers({ response: edits({}, [name]) }, deps)).toThrow(/manages message framing/);
    },
  );

  it('refuses at start-up a header value that could split the header line', () => {
    expect(() => headers({ request: edits({ 'x-a': 'one\r\nx-flotilla-roles: admin' }) }, deps)).toThrow(
      /control character/,
    );
  });

  it('refuses at start-up a header name that is not a token', () => {
    expect(() => headers({ response: edits({ 'bad name': 'x' }) }, deps)).toThrow(/not a valid header name/);
  });
});
