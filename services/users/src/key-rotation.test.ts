import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type As, type RunningUsers, type UsersTestBed, usersTestBed } from './testing.ts';

const ROTATE = '/api/identity/v1/keys/rotate';
const TTL_S = 3;

let bed: UsersTestBed;
let a: RunningUsers;
let b: RunningUsers;
let admin: As;

beforeAll(async () => {
  bed = await usersTestBed();
  // Tokens live 3 s and retired keys stay no longer than that, so a key's whole life fits in the test.
  const env = { TOKEN_TTL_S: String(TTL_S), KEY_RETENTION_MARGIN_S: '0' };
  a = await bed.start(env);
  b = await bed.start({ ...env, DATABASE_URL: a.databaseUrl });
  const { id } = await bed.one<{ id: string }>(
    a.databaseUrl,
    "SELECT id FROM users WHERE email = 'admin@shop.local'",
  );
  admin = { subject: id, roles: ['admin'] };
});

afterAll(() => bed?.stop());

const login = async (users: RunningUsers) => {
  const res = await users.call('POST', '/api/identity/v1/token', {
    body: { email: 'admin@shop.local', password: bed.adminPassword },
  });
  return res.body.access_token as string;
};
const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const kidsIn = async (users: RunningUsers) =>
  ((await users.call('GET', '/.well-known/jwks.json')).body.keys as { kid: string }[]).map((k) => k.kid);

describe('POST /api/identity/v1/keys/rotate', () => {
  it('answers 401 to an anonymous call and 403 FORBIDDEN to a customer', async () => {
    const anonymous = await a.call('POST', ROTATE);
    const customer = await a.call('POST', ROTATE, { as: { subject: admin.subject, roles: ['customer'] } });

    expect(anonymous.status).toBe(401);
    expect(customer.status).toBe(403);
    expect(customer.body.error.code).toBe('FORBIDDEN');
    expect(await bed.query(a.databaseUrl, 'SELECT kid FROM signing_keys')).toHaveLength(1);
  });

  it('signs with a new key from now on, keeps the old one in the JWKS for its tokens, then drops it', async () => {
    const oldToken = await login(a);
    const oldKid = kidOf(oldToken);

    const rotated = await a.call('POST', ROTATE, { as: admin });

    expect(rotated.status).toBe(201);
    expect(rotated.body).toEqual({ kid: expect.any(String), retired_kid: oldKid });
    const newKid = rotated.body.kid;
    expect(newKid).not.toBe(oldKid);
    expect(kidOf(await login(a))).toBe(newKid);
    const jwks = (await a.call('GET', '/.well-known/jwks.json')).body;
    expect(jwks.keys.map((k: { kid: string }) => k.kid)).toEqual([newKid, oldKid]);
    await expect(jwtVerify(oldToken, createLocalJWKSet(jwks))).resolves.toBeDefined();
    const [retired] = await bed.query<{ private_jwk: unknown }>(
      a.databaseUrl,
      'SELECT private_jwk FROM signing_keys WHERE kid = $1',
      [oldKid],
    );
    expect(retired!.private_jwk).toBeNull();

    // The other replica picks the new key up within its cache time (2 s).
    let kidOnB = kidOf(await login(b));
    for (let i = 0; i < 30 && kidOnB !== newKid; i++) {
      await sleep(100);
      kidOnB = kidOf(await login(b));
    }
    expect(kidOnB).toBe(newKid);

    // The old key leaves once every token it signed has expired: TOKEN_TTL_S after its retirement.
    const { retired_at } = await bed.one<{ retired_at: Date }>(
      a.databaseUrl,
      'SELECT retired_at FROM signing_keys WHERE kid = $1',
      [oldKid],
    );
    let lastSeen = Date.now();
    while (Date.now() - retired_at.getTime() < (TTL_S + 2) * 1000 && (await kidsIn(b)).includes(oldKid!)) {
      lastSeen = Date.now();
      await sleep(100);
    }
    expect(lastSeen - retired_at.getTime()).toBeGreaterThan(TTL_S * 1000 - 500);
    expect(await kidsIn(a)).toEqual([newKid]);
  });

  it('keeps exactly one active key when two admins rotate on two replicas at once', async () => {
    const before = (await bed.query(a.databaseUrl, 'SELECT kid FROM signing_keys')).length;
    const answers = await Promise.all([
      a.call('POST', ROTATE, { as: admin }),
      b.call('POST', ROTATE, { as: admin }),
    ]);

    expect(answers.map((r) => r.status)).toEqual([201, 201]);
    const active = await bed.query(a.databaseUrl, 'SELECT kid FROM signing_keys WHERE retired_at IS NULL');
    expect(active).toHaveLength(1);
    expect((await bed.query(a.databaseUrl, 'SELECT kid FROM signing_keys')).length).toBe(before + 2);
  });
});

describe('the JWKS', () => {
  it('says until when each retired key signed, its retirement plus the replicas’ 3 s signing lag', async () => {
    await a.call('POST', ROTATE, { as: admin });
    const res = await a.call('GET', '/.well-known/jwks.json');
    const [active, retired] = res.body.keys as Record<string, unknown>[];
    const { retired_at } = await bed.one<{ retired_at: Date }>(
      a.databaseUrl,
      'SELECT retired_at FROM signing_keys WHERE kid = $1',
      [retired!.kid],
    );

    expect(active).not.toHaveProperty('flotilla_retired_at');
    expect(retired!.flotilla_retired_at).toBe(Math.ceil(retired_at.getTime() / 1000 + 3));
    expect(res.headers.get('cache-control')).toBe('public, max-age=2');
  });
});

describe('POST /api/identity/v1/keys/{kid}/revoke', () => {
  const revoke = (kid: string, as?: As) => a.call('POST', `/api/identity/v1/keys/${kid}/revoke`, { as });

  it('answers 401 to an anonymous call, 403 FORBIDDEN to a customer and 404 KEY_NOT_FOUND to an unknown kid', async () => {
    const kid = kidOf(await login(a))!;
    expect((await revoke(kid)).status).toBe(401);
    expect((await revoke(kid, { subject: admin.subject, roles: ['customer'] })).status).toBe(403);
    const unknown = await revoke('no-such-kid', admin);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('KEY_NOT_FOUND');
    expect(await kidsIn(a)).toContain(kid);
  });

  it('takes the active key out of the JWKS at once, on every replica, and signs with a new key from then on', async () => {
    const leaked = kidOf(await login(a))!;

    const revoked = await revoke(leaked, admin);

    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ kid: expect.any(String), revoked_kid: leaked });
    expect(revoked.body.kid).not.toBe(leaked);
    expect(await kidsIn(a)).not.toContain(leaked);
    expect(await kidsIn(b)).not.toContain(leaked);
    expect(kidOf(await login(a))).toBe(revoked.body.kid);
    const [row] = await bed.query<{ private_jwk: unknown }>(
      a.databaseUrl,
      'SELECT private_jwk FROM signing_keys WHERE kid = $1',
      [leaked],
    );
    expect(row!.private_jwk).toBeNull();
  });

  it('takes a retired key out of the JWKS before its tokens expire, and leaves the active key alone', async () => {
    const retiredKid = (await a.call('POST', ROTATE, { as: admin })).body.retired_kid as string;
    const active = kidOf(await login(a));
    expect(await kidsIn(a)).toContain(retiredKid);

    const revoked = await revoke(retiredKid, admin);

    expect(revoked.body).toEqual({ kid: active, revoked_kid: retiredKid });
    expect(await kidsIn(a)).not.toContain(retiredKid);
    expect((await kidsIn(a))[0]).toBe(active);
    expect((await revoke(retiredKid, admin)).status).toBe(200);
  });
});
