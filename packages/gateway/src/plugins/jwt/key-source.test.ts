import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JwtConfig } from '@flotilla/spec';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PLUGIN_DEFAULTS } from '../../defaults.ts';
import type { Plugin } from '../../plugin.ts';
import { eventually } from '../../../../../test/support/eventually.ts';
import { createTestContext, createTestDeps, runRequest, type TestDeps, unusedPort } from '../test-context.ts';
import { jwt } from './index.ts';
import { RETIRED_AT } from './key-source.ts';

const ISSUER = 'https://id.shop.example';
const AUDIENCE = 'shop';
const CACHE_S = 300;
const { jwksFetchTimeoutMs, jwksRefetchMinIntervalS } = PLUGIN_DEFAULTS.jwt;

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
const plugins: Plugin[] = [];

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
  plugin = start(jwksUrl);
});

afterEach(async () => {
  await Promise.all(plugins.splice(0).map((p) => p.close?.()));
});

/** A jwt plugin over `url`; it fetches the JWKS at once. Closed after the test. */
function start(url: string, cacheS = CACHE_S, own: TestDeps = deps): Plugin {
  const created = jwt(config(url, cacheS), own);
  plugins.push(created);
  return created;
}

function config(url: string, cacheS: number): JwtConfig {
  return {
    jwksUrl: url,
    algorithms: ['ES256'],
    issuer: ISSUER,
    audience: AUDIENCE,
    clockSkewS: 30,
    rolesClaim: 'roles',
    jwksCacheS: cacheS,
  };
}

/** A token of `pair` under `kid`, issued `issuedAgoS` seconds before the test clock's now. */
async function mint(pair: KeyPair, kid: string, issuedAgoS = 0, iat?: number | null): Promise<string> {
  const nowS = Math.floor(deps.now() / 1000);
  const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', exp: nowS + 3_600 };
  const issued = iat === undefined ? nowS - issuedAgoS : iat;
  return new SignJWT(issued === null ? claims : { ...claims, iat: issued })
    .setProtectedHeader({ alg: 'ES256', kid })
    .sign(pair.privateKey);
}

/** What the plugin answered: 'OK', or the error's code with the Retry-After it sent, if any. */
async function check(token: string, target: Plugin = plugin): Promise<string> {
  const ctx = createTestContext({ headers: { authorization: `Bearer ${token}` } });
  return runRequest(target, ctx).then(
    () => 'OK',
    (e: { code: string; headers: Record<string, string> }) =>
      e.headers['retry-after'] === undefined ? e.code : `${e.code} retry-after=${e.headers['retry-after']}`,
  );
}

describe('jwt with a JWKS URL', () => {
  it('fetches the JWKS once as it starts and serves later tokens from those keys', async () => {
    const token = await mint(current, 'k1', 10);
    expect([await check(token), await check(token), await check(token)]).toEqual(['OK', 'OK', 'OK']);
    expect(jwks.hits).toBe(1);
  });

  it('shares one fetch between concurrent first requests', async () => {
    const token = await mint(current, 'k1', 10);
    const results = await Promise.all(Array.from({ length: 20 }, () => check(token)));
    expect(results.every((r) => r === 'OK')).toBe(true);
    expect(jwks.hits).toBe(1);
  });

  it('fetches again every jwksCacheS without traffic, and refuses a remembered token once its key left the JWKS', async () => {
    const token = await mint(current, 'k1', 10);
    const fast = start(jwksUrl, 1);
    expect(await check(token, fast)).toBe('OK');
    const hits = jwks.hits;
    await eventually(() => expect(jwks.hits).toBeGreaterThanOrEqual(hits + 1), 5_000);

    // The key is revoked: the next fetch, at most 1 s away (plus the fetch itself), takes it away
    // from every token, remembered ones included.
    jwks.body = JSON.stringify({ keys: [rotatedJwk] });
    const revokedAt = Date.now();
    await eventually(async () => expect(await check(token, fast)).toBe('UNAUTHORIZED'), 10_000);
    expect(Date.now() - revokedAt).toBeLessThan(1_000 + jwksFetchTimeoutMs);
  });

  it('refuses a token with an unknown kid issued before the last fetch at once, without fetching again', async () => {
    expect(await check(await mint(current, 'k1', 10))).toBe('OK');
    deps.advance(jwksRefetchMinIntervalS * 1000);
    const forged = await Promise.all(['x1', 'x2', 'x3'].map((kid) => mint(current, kid, 40)));
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => check(forged[i % 3] ?? '')));
    expect(new Set(burst)).toEqual(new Set(['UNAUTHORIZED']));
    expect(await check(await mint(current, 'x4', 0, null))).toBe('UNAUTHORIZED');
    expect(jwks.hits).toBe(1);
  });

  it('accepts a token of a key published after the last fetch by fetching again for it', async () => {
    expect(await check(await mint(current, 'k1', 10))).toBe('OK');
    jwks.body = JSON.stringify({ keys: [rotatedJwk, currentJwk] });
    deps.advance(jwksRefetchMinIntervalS * 1000);
    expect(await check(await mint(rotated, 'k2'))).toBe('OK');
    expect(await check(await mint(current, 'k1'))).toBe('OK');
    expect(jwks.hits).toBe(2);
  });

  it('answers 503 JWKS_UNAVAILABLE with Retry-After to a new kid it may not fetch for yet, and 401 once a fresh fetch lacks it', async () => {
    expect(await check(await mint(current, 'k1', 10))).toBe('OK');
    deps.advance(1_000);
    const newer = await mint(rotated, 'k9');
    const answers = await Promise.all(Array.from({ length: 10 }, () => check(newer)));
    expect(new Set(answers)).toEqual(new Set([expect.stringMatching(/^JWKS_UNAVAILABLE retry-after=\d+$/)]));
    expect(jwks.hits).toBe(1);
    deps.advance(jwksRefetchMinIntervalS * 1000);
    expect(await check(newer)).toBe('UNAUTHORIZED');
    expect(jwks.hits).toBe(2);
  });

  it('answers 503 JWKS_UNAVAILABLE with Retry-After, not 401, while the JWKS server is down, and is not ready', async () => {
    const port = await unusedPort();
    const url = `http://127.0.0.1:${port}/jwks`;
    const down = start(url);
    const token = await mint(current, 'k1', 10);

    expect(await check(token, down)).toBe('JWKS_UNAVAILABLE retry-after=1');
    expect(down.notReady?.()).toMatch(new RegExp(`^waiting for the JWKS at ${url} \\(last attempt: .+\\)$`));
    expect(deps.logs).toContainEqual({
      level: 'warn',
      msg: expect.stringMatching(/^JWKS fetch failed/),
      obj: expect.objectContaining({ jwksUrl: url, usingCachedKeys: false }),
    });
    expect(deps.logs).toContainEqual(
      expect.objectContaining({
        level: 'info',
        msg: 'bearer token not checked',
        obj: expect.objectContaining({ reason: expect.stringMatching(/could not be fetched yet/) }),
      }),
    );

    // The server comes up on that port: the retry a second later finds it.
    const late = createServer((_req, res) => res.end(JSON.stringify({ keys: [currentJwk] })));
    late.listen(port, '127.0.0.1');
    await once(late, 'listening');
    try {
      await eventually(() => expect(down.notReady?.()).toBeUndefined(), 5_000);
      expect(await check(token, down)).toBe('OK');
    } finally {
      late.closeAllConnections();
      late.close();
    }
  });

  it('warns once while the same fetch failure repeats every second, and says when the keys are back', async () => {
    jwks.status = 503;
    const own = createTestDeps();
    const starting = start(jwksUrl, CACHE_S, own);
    await eventually(() => expect(jwks.hits).toBeGreaterThanOrEqual(4), 10_000);
    const warnings = () => own.logs.filter((l) => l.level === 'warn');
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]?.obj).toMatchObject({ error: expect.stringMatching(/answered 503/) });

    jwks.status = 200;
    await eventually(() => expect(starting.notReady?.()).toBeUndefined(), 5_000);
    expect(own.logs.at(-1)).toMatchObject({ level: 'info', msg: 'JWKS fetched again' });
  });

  it('keeps accepting tokens with the last keys fetched when a later fetch fails', async () => {
    const token = await mint(current, 'k1', 10);
    const fast = start(jwksUrl, 1);
    expect(await check(token, fast)).toBe('OK');
    jwks.status = 503;
    await eventually(
      () =>
        expect(deps.logs).toContainEqual(
          expect.objectContaining({ level: 'warn', obj: expect.objectContaining({ usingCachedKeys: true }) }),
        ),
      5_000,
    );
    expect(await check(token, fast)).toBe('OK');
    expect(fast.notReady?.()).toBeUndefined();
  });

  it('answers 503 and warns when the JWKS document is not a key set', async () => {
    jwks.body = JSON.stringify({ issuer: ISSUER });
    const bad = start(jwksUrl);
    expect(await check(await mint(current, 'k1', 10), bad)).toMatch(/^JWKS_UNAVAILABLE/);
    expect(deps.logs.some((l) => l.level === 'warn' && /malformed/.test(JSON.stringify(l.obj)))).toBe(true);
  });
});

describe('jwt with a retired key', () => {
  const retiredAtS = () => Math.floor(deps.now() / 1000) - 60;

  beforeEach(() => {
    jwks.body = JSON.stringify({ keys: [rotatedJwk, { ...currentJwk, [RETIRED_AT]: retiredAtS() }] });
    plugin = start(jwksUrl);
  });

  it('accepts a token the key signed before its retirement', async () => {
    expect(await check(await mint(current, 'k1', 0, retiredAtS()))).toBe('OK');
    expect(await check(await mint(current, 'k1', 0, retiredAtS() - 300))).toBe('OK');
  });

  it('refuses a token signed after the key was retired, as a leaked key would sign it', async () => {
    expect(await check(await mint(current, 'k1', 0, retiredAtS() + 1))).toBe('UNAUTHORIZED');
    expect(await check(await mint(current, 'k1'))).toBe('UNAUTHORIZED');
    expect(deps.logs).toContainEqual(
      expect.objectContaining({
        obj: expect.objectContaining({ reason: 'signed after its key k1 was retired' }),
      }),
    );
  });

  it('refuses a token of a retired key that does not say when it was issued', async () => {
    expect(await check(await mint(current, 'k1', 0, null))).toBe('UNAUTHORIZED');
  });

  it('refuses a token a leaked retired key signs after its retirement without a kid, and accepts its earlier ones', async () => {
    // Without a kid every key of the algorithm is a candidate: the retired one must not verify
    // a token issued after its retirement just because the header does not name it.
    const kidless = (pair: KeyPair, iat: number) => {
      const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat, exp: iat + 3_600 };
      return new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(pair.privateKey);
    };
    const nowS = Math.floor(deps.now() / 1000);
    expect(await check(await kidless(current, nowS))).toBe('UNAUTHORIZED');
    expect(await check(await kidless(current, retiredAtS() + 1))).toBe('UNAUTHORIZED');
    expect(await check(await kidless(current, retiredAtS()))).toBe('OK');
    expect(await check(await kidless(rotated, nowS))).toBe('OK');
    // A kid that is not a string names no key either, to jose as to the retirement check.
    const numericKid = await new SignJWT({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'user-1',
      iat: nowS,
      exp: nowS + 60,
    })
      .setProtectedHeader({ alg: 'ES256', kid: 1 as unknown as string })
      .sign(current.privateKey);
    expect(await check(numericKid)).toBe('UNAUTHORIZED');
  });

  it('still accepts tokens of the active key issued now', async () => {
    expect(await check(await mint(rotated, 'k2'))).toBe('OK');
  });
});
