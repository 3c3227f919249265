import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JwtConfig } from '@flotilla/spec';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PLUGIN_DEFAULTS } from '../../defaults.ts';
import type { Plugin } from '../../plugin.ts';
import { createTestContext, createTestDeps, runRequest, type TestDeps, unusedPort } from '../test-context.ts';
import { jwt } from './index.ts';

const ISSUER = 'https://id.shop.example';
const AUDIENCE = 'shop';
const CACHE_S = 300;
const { jwksRefetchMinIntervalS, jwksRetryAfterFailureS } = PLUGIN_DEFAULTS.jwt;

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
let current: KeyPair;
let rotated: KeyPair;
let currentJwk: JWK;
let rotatedJwk: JWK;

/** The JWKS server: what it answers and how often it was asked. */
const jwks = { status: 200, body: '', hits: 0 };
let server: Server;
let jwksUrl: string;
let deps: TestDeps;
let plugin: Plugin;

beforeAll(async () => {
  [current, rotated] = await Promise.all([generateKeyPair('ES256'), generateKeyPair('ES256')]);
  currentJwk = { ...(await exportJWK(current.publicKey)), kid: 'k1', alg: 'ES256' };
  rotatedJwk = { ...(await exportJWK(rotated.publicKey)), kid: 'k2', alg: 'ES256' };
  server = createServer((_req, res) => {
    jwks.hits += 1;
    res.writeHead(jwks.status, { 'content-type': 'application/json' }).end(jwks.body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

beforeEach(() => {
  Object.assign(jwks, { status: 200, body: JSON.stringify({ keys: [currentJwk] }), hits: 0 });
  deps = createTestDeps();
  plugin = jwt(config(jwksUrl), deps);
});

function config(url: string): JwtConfig {
  return {
    jwksUrl: url,
    algorithms: ['ES256'],
    issuer: ISSUER,
    audience: AUDIENCE,
    clockSkewS: 30,
    rolesClaim: 'roles',
    jwksCacheS: CACHE_S,
  };
}

async function mint(pair: KeyPair, kid: string): Promise<string> {
  const nowS = Math.floor(deps.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'user-1', exp: nowS + 3_600 })
    .setProtectedHeader({ alg: 'ES256', kid })
    .sign(pair.privateKey);
}

/** The error code the plugin answered with, or 'OK' when the token was accepted. */
async function check(token: string, target: Plugin = plugin): Promise<string> {
  const ctx = createTestContext({ headers: { authorization: `Bearer ${token}` } });
  return runRequest(target, ctx).then(
    () => 'OK',
    (e: { code: string }) => e.code,
  );
}

describe('jwt with a JWKS URL', () => {
  it('fetches the JWKS once and serves later tokens from the cache until jwksCacheS has passed', async () => {
    const token = await mint(current, 'k1');
    expect([await check(token), await check(token), await check(token)]).toEqual(['OK', 'OK', 'OK']);
    expect(jwks.hits).toBe(1);
    deps.advance(CACHE_S * 1000);
    expect(await check(token)).toBe('OK');
    expect(jwks.hits).toBe(2);
  });

  it('shares one fetch between concurrent first requests', async () => {
    const token = await mint(current, 'k1');
    const results = await Promise.all(Array.from({ length: 20 }, () => check(token)));
    expect(results.every((r) => r === 'OK')).toBe(true);
    expect(jwks.hits).toBe(1);
  });

  it('refetches for unknown kids at most once per 30 s, so forged kids cannot flood the JWKS server', async () => {
    const known = await mint(current, 'k1');
    const forged = await Promise.all(['x1', 'x2', 'x3'].map((kid) => mint(current, kid)));
    expect(await check(known)).toBe('OK');
    deps.advance(jwksRefetchMinIntervalS * 1000);
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => check(forged[i % 3] ?? '')));
    expect(new Set(burst)).toEqual(new Set(['UNAUTHORIZED']));
    expect(jwks.hits).toBe(2);
    deps.advance(jwksRefetchMinIntervalS * 1000 - 1);
    expect(await check(forged[0] ?? '')).toBe('UNAUTHORIZED');
    expect(jwks.hits).toBe(2);
    deps.advance(1);
    expect(await check(forged[1] ?? '')).toBe('UNAUTHORIZED');
    expect(jwks.hits).toBe(3);
  });

  it('accepts a token signed with a newly published key once the refetch for its kid shows it', async () => {
    expect(await check(await mint(current, 'k1'))).toBe('OK');
    jwks.body = JSON.stringify({ keys: [currentJwk, rotatedJwk] });
    deps.advance(jwksRefetchMinIntervalS * 1000);
    expect(await check(await mint(rotated, 'k2'))).toBe('OK');
    expect(await check(await mint(current, 'k1'))).toBe('OK');
    expect(jwks.hits).toBe(2);
  });

  it('answers 401, not 500, and logs a clear warning when the JWKS server is down', async () => {
    const url = `http://127.0.0.1:${await unusedPort()}/jwks`;
    const error = await runRequest(
      jwt(config(url), deps),
      createTestContext({ headers: { authorization: `Bearer ${await mint(current, 'k1')}` } }),
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect(deps.logs).toContainEqual({
      level: 'warn',
      msg: expect.stringMatching(/^JWKS fetch failed/),
      obj: expect.objectContaining({ jwksUrl: url, usingCachedKeys: false }),
    });
    expect(deps.logs).toContainEqual(
      expect.objectContaining({
        level: 'info',
        obj: expect.objectContaining({ reason: expect.stringMatching(/JWKS_UNAVAILABLE/) }),
      }),
    );
  });

  it('waits before trying a failed JWKS fetch again, then recovers', async () => {
    const token = await mint(current, 'k1');
    jwks.status = 503;
    expect(await check(token)).toBe('UNAUTHORIZED');
    expect(await check(token)).toBe('UNAUTHORIZED');
    expect(jwks.hits).toBe(1);
    jwks.status = 200;
    deps.advance(jwksRetryAfterFailureS * 1000);
    expect(await check(token)).toBe('OK');
    expect(jwks.hits).toBe(2);
  });

  it('keeps accepting tokens with the last keys fetched when a refresh fails', async () => {
    const token = await mint(current, 'k1');
    expect(await check(token)).toBe('OK');
    jwks.status = 503;
    deps.advance(CACHE_S * 1000);
    expect(await check(token)).toBe('OK');
    expect(jwks.hits).toBe(2);
    expect(deps.logs).toContainEqual(
      expect.objectContaining({ level: 'warn', obj: expect.objectContaining({ usingCachedKeys: true }) }),
    );
  });

  it('rejects tokens and warns when the JWKS document is not a key set', async () => {
    jwks.body = JSON.stringify({ issuer: ISSUER });
    expect(await check(await mint(current, 'k1'))).toBe('UNAUTHORIZED');
    expect(deps.logs.some((l) => l.level === 'warn' && /malformed/.test(JSON.stringify(l.obj)))).toBe(true);
  });
});
