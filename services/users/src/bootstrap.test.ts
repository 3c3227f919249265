import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUsersService } from './app.ts';
import { type UsersTestBed, usersTestBed } from './testing.ts';

let bed: UsersTestBed;

beforeAll(async () => {
  bed = await usersTestBed();
});

afterAll(() => bed?.stop());

const token = (email: string, password: string) => ({ body: { email, password } });

describe('start-up', () => {
  it('creates one admin account and one signing key when two replicas start together on an empty database', async () => {
    const url = await bed.database();
    const [a, b] = await Promise.all([bed.start({ DATABASE_URL: url }), bed.start({ DATABASE_URL: url })]);

    expect(a.service.ready && b.service.ready).toBe(true);
    const admins = await bed.query(url, 'SELECT email, name, roles FROM users');
    expect(admins).toEqual([{ email: 'admin@shop.local', name: 'Administrator', roles: ['admin'] }]);
    expect(await bed.query(url, 'SELECT kid FROM signing_keys')).toHaveLength(1);
    const [jwksA, jwksB] = await Promise.all([a, b].map((r) => r.call('GET', '/.well-known/jwks.json')));
    expect(jwksA!.body).toEqual(jwksB!.body);

    const login = await b.call(
      'POST',
      '/api/identity/v1/token',
      token('admin@shop.local', bed.adminPassword),
    );
    expect(login.status).toBe(200);
  });

  it('leaves an existing admin alone, old password included, when started with another ADMIN_PASSWORD', async () => {
    const first = await bed.start({ ADMIN_EMAIL: 'Boss@Example.com' });
    const { id } = await bed.one<{ id: string }>(first.databaseUrl, 'SELECT id FROM users');
    const second = await bed.start({
      DATABASE_URL: first.databaseUrl,
      ADMIN_EMAIL: 'boss@example.com',
      ADMIN_PASSWORD: 'another admin passphrase 42',
    });

    expect(await bed.query(first.databaseUrl, 'SELECT id, email FROM users')).toEqual([
      { id, email: 'boss@example.com' },
    ]);
    const withOld = await second.call(
      'POST',
      '/api/identity/v1/token',
      token('boss@example.com', bed.adminPassword),
    );
    const withNew = await second.call(
      'POST',
      '/api/identity/v1/token',
      token('boss@example.com', 'another admin passphrase 42'),
    );
    expect(withOld.status).toBe(200);
    expect(withNew.status).toBe(401);
  });

  it('refuses to build without ADMIN_PASSWORD, naming it', async () => {
    expect(() => buildUsersService({ env: { DATABASE_URL: 'postgres://127.0.0.1/none' } })).toThrow(
      /ADMIN_PASSWORD/,
    );
  });

  it('refuses to create the admin account with a password that breaks the rules', async () => {
    await expect(bed.start({ ADMIN_PASSWORD: 'password1234' })).rejects.toThrow(
      /ADMIN_PASSWORD breaks the password rules: Do not use a commonly used password/,
    );
  });

  it('refuses a TOKEN_TTL_S that is not a whole number of seconds', () => {
    expect(() => buildUsersService({ env: { ADMIN_PASSWORD: 'x', TOKEN_TTL_S: '15m' } })).toThrow(
      'TOKEN_TTL_S must be a whole number of seconds >= 1 (got "15m").',
    );
  });

  it('stays unready until the signing key and the admin account exist', async () => {
    const url = await bed.database();
    const service = buildUsersService({
      env: { DATABASE_URL: url, FLOTILLA_BUS_URL: bed.busUrl, ADMIN_PASSWORD: bed.adminPassword, PORT: '0' },
      logDestination: { write: () => true },
    });
    const states: boolean[] = [];
    const starting = service.start();
    const watch = setInterval(() => states.push(service.ready), 1);
    await starting;
    clearInterval(watch);
    const keys = await bed.query(url, 'SELECT kid FROM signing_keys');
    await service.stop();

    expect(states.every((ready) => !ready)).toBe(true);
    expect(keys).toHaveLength(1);
  });
});
