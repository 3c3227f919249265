import type { JwtConfig } from '@flotilla/spec';
import { base64url, exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Plugin } from '../../plugin.ts';
import { PluginConfigError } from '../plugin-config-error.ts';
import { createTestContext, createTestDeps, runRequest, type TestDeps } from '../test-context.ts';
import { jwt } from './index.ts';

const ISSUER = 'https://id.shop.example';
const AUDIENCE = 'shop';
const deps = createTestDeps();
const nowS = Math.floor(deps.now() / 1000);

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
let es256: KeyPair;
let rs256: KeyPair;
let es384: KeyPair;
let stranger: KeyPair;
let publicJwks: JWK[];

beforeAll(async () => {
  [es256, rs256, es384, stranger] = await Promise.all([
    generateKeyPair('ES256', { extractable: true }),
    generateKeyPair('RS256', { extractable: true }),
    generateKeyPair('ES384', { extractable: true }),
    generateKeyPair('ES256', { extractable: true }),
  ]);
  publicJwks = [
    { ...(await exportJWK(es256.publicKey)), kid: 'es', alg: 'ES256', use: 'sig' },
    { ...(await exportJWK(rs256.publicKey)), kid: 'rs', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(es384.publicKey)), kid: 'es384', alg: 'ES384', use: 'sig' },
  ];
});

function config(overrides: Partial<JwtConfig> = {}): JwtConfig {
  return {
    keys: publicJwks as Record<string, unknown>[],
    algorithms: ['ES256', 'RS256'],
    issuer: ISSUER,
    audience: AUDIENCE,
    clockSkewS: 30,
    rolesClaim: 'roles',
    jwksCacheS: 300,
    ...overrides,
  };
}

/** A token that passes every check, with `claims` laid over it (`undefined` removes a claim, `kid: null` the kid). */
async function mint(
  claims: Record<string, unknown> = {},
  { key = es256.privateKey, alg = 'ES256', kid = 'es' as string | null } = {},
): Promise<string> {
  const payload: JWTPayload = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'user-1',
    iat: nowS,
    exp: nowS + 300,
    ...claims,
  };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg, ...(kid === null ? {} : { kid }) }).sign(key);
}

async function authorize(plugin: Plugin, authorization: string | undefined, testDeps: TestDeps = deps) {
  const logsBefore = testDeps.logs.length;
  const ctx = createTestContext({ headers: authorization === undefined ? {} : { authorization } });
  ctx.requestId = 'req-1';
  const error = await runRequest(plugin, ctx).then(
    () => undefined,
    (e: unknown) => e as { code: string; status: number; headers: Record<string, string> },
  );
  return { ctx, error, logs: testDeps.logs.slice(logsBefore) };
}

async function expectRejected(token: string, overrides: Partial<JwtConfig> = {}, reason?: RegExp) {
  const { ctx, error, logs } = await authorize(jwt(config(overrides), deps), `Bearer ${token}`);
  expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
  expect(error?.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  expect(ctx.subject).toBeUndefined();
  expect(logs).toHaveLength(1);
  expect(logs[0]).toMatchObject({
    level: 'info',
    msg: 'bearer token rejected',
    obj: { request_id: 'req-1' },
  });
  expect(JSON.stringify(logs)).not.toContain(token);
  if (reason) expect(logs[0]?.obj).toMatchObject({ reason: expect.stringMatching(reason) });
}

describe('jwt accepts', () => {
  it('a valid token and puts its subject and roles on the context', async () => {
    const { ctx, error } = await authorize(
      jwt(config(), deps),
      `Bearer ${await mint({ roles: ['admin', 'ops'] })}`,
    );
    expect(error).toBeUndefined();
    expect(ctx.subject).toBe('user-1');
    expect(ctx.roles).toEqual(['admin', 'ops']);
  });

  it('roles given as a space- or comma-separated string, from the configured claim', async () => {
    const token = await mint({ scope: 'orders:read, orders:write  admin' });
    const { ctx } = await authorize(jwt(config({ rolesClaim: 'scope' }), deps), `Bearer ${token}`);
    expect(ctx.roles).toEqual(['orders:read', 'orders:write', 'admin']);
  });

  it('no roles when the claim is absent, and only header-safe strings when it is an array', async () => {
    const plugin = jwt(config(), deps);
    expect((await authorize(plugin, `Bearer ${await mint()}`)).ctx.roles).toEqual([]);
    const mixed = await mint({ roles: ['ok', 7, 'a,b', 'line\nbreak', { admin: true }] });
    expect((await authorize(plugin, `Bearer ${mixed}`)).ctx.roles).toEqual(['ok']);
  });

  it('a token issued in the future by less than the 30 s clock skew', async () => {
    const { error } = await authorize(jwt(config(), deps), `Bearer ${await mint({ iat: nowS + 29 })}`);
    expect(error).toBeUndefined();
  });

  it('a token expired less than the 30 s clock skew ago', async () => {
    const { error } = await authorize(jwt(config(), deps), `Bearer ${await mint({ exp: nowS - 29 })}`);
    expect(error).toBeUndefined();
  });

  it('a token signed with the RS256 key when RS256 is allowed, and the scheme in any case', async () => {
    const token = await mint({}, { key: rs256.privateKey, alg: 'RS256', kid: 'rs' });
    expect((await authorize(jwt(config(), deps), `bearer ${token}`)).error).toBeUndefined();
  });

  it('a token without kid when several keys could have signed it', async () => {
    const second = { ...(await exportJWK(stranger.publicKey)), alg: 'ES256' };
    const keys = [{ ...publicJwks[0], kid: undefined }, second] as Record<string, unknown>[];
    const token = await mint({}, { key: stranger.privateKey, kid: null });
    expect((await authorize(jwt(config({ keys }), deps), `Bearer ${token}`)).error).toBeUndefined();
  });
});

describe('jwt rejects with 401 and never calls the service', () => {
  it('a request without Authorization, asking for a bearer token', async () => {
    const { error, logs } = await authorize(jwt(config(), deps), undefined);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect(error?.headers['www-authenticate']).toBe('Bearer realm="flotilla"');
    expect(logs[0]).toMatchObject({ level: 'info', obj: { reason: 'no bearer token' } });
  });

  it('another scheme, or the Bearer scheme without a token, as a missing token', async () => {
    const plugin = jwt(config(), deps);
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer   ', 'Bearerxyz']) {
      const { error } = await authorize(plugin, header);
      expect(error?.headers['www-authenticate']).toBe('Bearer realm="flotilla"');
    }
  });

  it('a token with alg none', async () => {
    const encode = (part: object) => base64url.encode(JSON.stringify(part));
    const payload = { iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: nowS + 300 };
    await expectRejected(`${encode({ alg: 'none' })}.${encode(payload)}.`, {}, /ALG_NOT_ALLOWED/);
    await expectRejected(`${encode({ alg: 'none', kid: 'es' })}.${encode(payload)}.`);
  });

  it('an HS256 token signed with the RSA public key as PEM text', async () => {
    const pem = await exportSPKI(rs256.publicKey);
    const token = await mint({}, { key: new TextEncoder().encode(pem) as never, alg: 'HS256', kid: 'rs' });
    await expectRejected(token, {}, /ALG_NOT_ALLOWED/);
  });

  it('an HS256 token signed with the public key as its JWK', async () => {
    const jwkText = JSON.stringify(publicJwks[1]);
    const token = await mint(
      {},
      { key: new TextEncoder().encode(jwkText) as never, alg: 'HS256', kid: 'rs' },
    );
    await expectRejected(token, {}, /ALG_NOT_ALLOWED/);
  });

  it('a token signed by a key with an unknown kid', async () => {
    await expectRejected(await mint({}, { key: stranger.privateKey, kid: 'unknown' }), {}, /NO_MATCHING_KEY/);
  });

  it('a token signed by an unknown key under a known kid', async () => {
    await expectRejected(await mint({}, { key: stranger.privateKey }), {}, /SIGNATURE_VERIFICATION_FAILED/);
  });

  it('a token whose payload was changed after signing', async () => {
    const [header, , signature] = (await mint()).split('.');
    const forged = base64url.encode(
      JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: nowS + 300 }),
    );
    await expectRejected(`${header}.${forged}.${signature}`, {}, /SIGNATURE_VERIFICATION_FAILED/);
  });

  it('a token whose signature was changed', async () => {
    const [header, payload, signature = ''] = (await mint()).split('.');
    const bytes = base64url.decode(signature);
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    await expectRejected(
      `${header}.${payload}.${base64url.encode(bytes)}`,
      {},
      /SIGNATURE_VERIFICATION_FAILED/,
    );
  });

  it('a token from another issuer', async () => {
    await expectRejected(await mint({ iss: 'https://evil.example' }), {}, /"iss" claim/);
  });

  it('a token for another audience', async () => {
    await expectRejected(await mint({ aud: 'billing' }), {}, /"aud" claim/);
  });

  it('a token expired more than the clock skew ago', async () => {
    await expectRejected(await mint({ exp: nowS - 31 }), {}, /EXPIRED/);
  });

  it('a token that is not valid yet', async () => {
    await expectRejected(await mint({ nbf: nowS + 60 }), {}, /"nbf" claim/);
  });

  it('a token without exp, which would be valid forever', async () => {
    await expectRejected(await mint({ exp: undefined }), {}, /"exp" claim/);
  });

  it('a token without sub, which names nobody', async () => {
    await expectRejected(await mint({ sub: undefined }), {}, /"sub" claim/);
  });

  it('a token whose sub could not travel as a header value', async () => {
    await expectRejected(await mint({ sub: 'user-1\r\nx-flotilla-roles: admin' }), {}, /printable ASCII/);
  });

  it('a token whose sub is a number, not a string', async () => {
    await expectRejected(await mint({ sub: 12345 }), {}, /sub claim is not a string/);
    await expectRejected(await mint({ sub: ['user-1'] }), {}, /sub claim is not a string/);
  });

  it('a token issued further in the future than the clock skew', async () => {
    await expectRejected(await mint({ iat: nowS + 31 }), {}, /iat claim is further in the future/);
    await expectRejected(await mint({ iat: 'soon' }));
  });

  it('a token signed with an algorithm outside the allow-list, even by a listed key', async () => {
    const token = await mint({}, { key: es384.privateKey, alg: 'ES384', kid: 'es384' });
    await expectRejected(token, {}, /ALG_NOT_ALLOWED/);
    const rsa = await mint({}, { key: rs256.privateKey, alg: 'RS256', kid: 'rs' });
    await expectRejected(rsa, { algorithms: ['ES256'] }, /ALG_NOT_ALLOWED/);
  });

  it.each(['garbage', 'a.b.c', 'a.b', '...', 'eyJhbGciOiJFUzI1NiJ9.%%%.sig'])(
    'the garbage token %s',
    async (token) => {
      await expectRejected(token);
    },
  );
});

describe('jwt config', () => {
  it('refuses a private key among the static keys', async () => {
    const privateJwk = await exportJWK(es256.privateKey);
    expect(() => jwt(config({ keys: [privateJwk as Record<string, unknown>] }), deps)).toThrow(
      PluginConfigError,
    );
  });

  it('refuses a symmetric key among the static keys', () => {
    const keys = [{ kty: 'oct', k: 'c2VjcmV0' }];
    expect(() => jwt(config({ keys }), deps)).toThrow(/private or symmetric key/);
  });

  it('fills the spec defaults into a config built in code with keys, issuer and audience only', async () => {
    const minimal = { keys: publicJwks as Record<string, unknown>[], issuer: ISSUER, audience: AUDIENCE };
    expect(
      (await authorize(jwt(minimal, deps), `Bearer ${await mint({ exp: nowS - 29 })}`)).error,
    ).toBeUndefined();
  });

  it('refuses a config with neither keys nor jwksUrl, or with both', () => {
    expect(() => jwt(config({ keys: undefined }), deps)).toThrow(/exactly one of jwksUrl or keys/);
    expect(() => jwt(config({ jwksUrl: 'http://users/jwks' }), deps)).toThrow(
      /exactly one of jwksUrl or keys/,
    );
  });
});

describe('jwt remembers verified tokens', () => {
  it('answers a repeated token with the same subject and roles', async () => {
    const own = createTestDeps();
    const plugin = jwt(config(), own);
    const token = await mint({ roles: ['admin'] });
    for (let i = 0; i < 3; i++) {
      const { ctx, error } = await authorize(plugin, `Bearer ${token}`, own);
      expect(error).toBeUndefined();
      expect([ctx.subject, ctx.roles]).toEqual(['user-1', ['admin']]);
    }
  });

  it('still refuses a remembered token once it has expired beyond the clock skew', async () => {
    const own = createTestDeps();
    const plugin = jwt(config(), own);
    const token = await mint({ exp: nowS + 10 });
    expect((await authorize(plugin, `Bearer ${token}`, own)).error).toBeUndefined();
    own.advance(39_000);
    expect((await authorize(plugin, `Bearer ${token}`, own)).error).toBeUndefined();
    own.advance(2_000);
    expect((await authorize(plugin, `Bearer ${token}`, own)).error).toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('still refuses a token that differs by one byte from a remembered one', async () => {
    const own = createTestDeps();
    const plugin = jwt(config(), own);
    const token = await mint();
    expect((await authorize(plugin, `Bearer ${token}`, own)).error).toBeUndefined();
    // A character inside the signature: the last one of a base64url signature also carries padding bits.
    const at = token.lastIndexOf('.') + 5;
    const changed = `${token.slice(0, at)}${token[at] === 'A' ? 'Q' : 'A'}${token.slice(at + 1)}`;
    const { error } = await authorize(plugin, `Bearer ${changed}`, own);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED' });
  });
});
