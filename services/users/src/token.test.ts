import { performance } from 'node:perf_hooks';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningUsers, type UsersTestBed, usersTestBed } from './testing.ts';

const TOKEN = '/api/identity/v1/token';
const PASSWORD = 'correct horse battery staple';
const ISSUER = 'https://identity.test';

let bed: UsersTestBed;
let users: RunningUsers;
let userId: string;

beforeAll(async () => {
  bed = await usersTestBed();
  users = await bed.start({ TOKEN_ISSUER: ISSUER, TOKEN_AUDIENCE: 'shop-test', TOKEN_TTL_S: '600' });
  const res = await users.call('POST', '/api/identity/v1/register', {
    body: { email: 'ada@example.com', name: 'Ada', password: PASSWORD },
  });
  userId = res.body.id;
});

afterAll(() => bed?.stop());

async function jwks() {
  const res = await users.call('GET', '/.well-known/jwks.json');
  return createLocalJWKSet(res.body);
}

describe('POST /api/identity/v1/token', () => {
  it('signs an EdDSA token whose claims verify against the JWKS the service serves', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await users.call('POST', TOKEN, { body: { email: ' ADA@example.com', password: PASSWORD } });

    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 600 });
    const { payload, protectedHeader } = await jwtVerify(res.body.access_token, await jwks(), {
      issuer: ISSUER,
      audience: 'shop-test',
      algorithms: ['EdDSA'],
    });
    expect(protectedHeader).toEqual({ alg: 'EdDSA', kid: expect.any(String), typ: 'JWT' });
    expect(payload).toEqual({
      iss: ISSUER,
      aud: 'shop-test',
      sub: userId,
      roles: ['customer'],
      iat: expect.any(Number),
      exp: payload.iat! + 600,
      jti: expect.stringMatching(/^[\da-f-]{36}$/),
    });
    expect(payload.iat).toBeGreaterThanOrEqual(before);
  });

  it('gives every token a jti of its own', async () => {
    const tokens = await Promise.all(
      [1, 2].map(() => users.call('POST', TOKEN, { body: { email: 'ada@example.com', password: PASSWORD } })),
    );
    const [a, b] = await Promise.all(
      tokens.map(async (t) => (await jwtVerify(t.body.access_token, await jwks())).payload),
    );
    expect(a!.jti).not.toBe(b!.jti);
  });

  it('answers a wrong password and an unknown email with the same 401 INVALID_CREDENTIALS', async () => {
    const wrong = await users.call('POST', TOKEN, {
      body: { email: 'ada@example.com', password: 'not her password' },
    });
    const unknown = await users.call('POST', TOKEN, {
      body: { email: 'nobody@example.com', password: PASSWORD },
    });

    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({
      error: { code: 'INVALID_CREDENTIALS', message: 'The email address or the password is wrong.' },
    });
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
  });

  it('takes about as long for an unknown email as for a wrong password', async () => {
    const time = async (email: string) => {
      const started = performance.now();
      await users.call('POST', TOKEN, { body: { email, password: 'not the password at all' } });
      return performance.now() - started;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    await time('ada@example.com');
    const known: number[] = [];
    const unknown: number[] = [];
    // Interleaved, so a slow moment of the machine falls on both sides.
    for (let i = 0; i < 5; i++) {
      known.push(await time('ada@example.com'));
      unknown.push(await time(`nobody-${i}@example.com`));
    }

    const ratio = median(known) / median(unknown);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });

  it.each([
    ['no body', undefined],
    ['no password', { email: 'ada@example.com' }],
    ['an empty password', { email: 'ada@example.com', password: '' }],
    ['a number for the email', { email: 42, password: PASSWORD }],
  ])('answers %s with 400 VALIDATION_FAILED', async (_, body) => {
    const res = await users.call('POST', TOKEN, { body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('answers a body that is not JSON with 400 INVALID_JSON', async () => {
    const res = await fetch(`${users.url}${TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"email":',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_JSON');
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('serves public Ed25519 keys only, with kid, alg and use, and a short Cache-Control', async () => {
    const res = await users.call('GET', '/.well-known/jwks.json');

    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=2');
    expect(res.body.keys).toEqual([
      {
        kty: 'OKP',
        crv: 'Ed25519',
        x: expect.any(String),
        kid: expect.any(String),
        alg: 'EdDSA',
        use: 'sig',
      },
    ]);
    const token = await users.call('POST', TOKEN, { body: { email: 'ada@example.com', password: PASSWORD } });
    expect(decodeProtectedHeader(token.body.access_token).kid).toBe(res.body.keys[0].kid);
  });
});

describe('GET /api/users/v1/me', () => {
  it("answers the caller's own account, as the gateway names it", async () => {
    const res = await users.call('GET', '/api/users/v1/me', { as: { subject: userId, roles: ['customer'] } });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: userId,
      email: 'ada@example.com',
      name: 'Ada',
      phone: null,
      roles: ['customer'],
      created_at: expect.any(String),
    });
  });

  it('answers 401 UNAUTHORIZED to a call without a subject', async () => {
    const res = await users.call('GET', '/api/users/v1/me');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHORIZED');
  });

  it.each([
    ['an id of nobody', '00000000-0000-4000-8000-000000000000'],
    ['a subject that is no user id', 'service:orders'],
  ])('answers 404 USER_NOT_FOUND for %s', async (_, subject) => {
    const res = await users.call('GET', '/api/users/v1/me', { as: { subject, roles: [] } });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('USER_NOT_FOUND');
  });
});
