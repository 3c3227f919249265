import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec } from '@flotilla/spec';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  claimStateDir,
  ensureStateDir,
  loadOrCreateAdminToken,
  readAdminToken,
  readStateFile,
  resolveSecrets,
  StateError,
  statePaths,
  writeStateFile,
} from './index.ts';

let dir: string;
let stateDir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-state-'));
  stateDir = join(dir, '.flotilla');
  await ensureStateDir(stateDir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

describe('state directory', () => {
  it('is private and ignores everything inside it for git', async () => {
    expect(await modeOf(stateDir)).toBe(0o700);
    expect(await modeOf(statePaths(stateDir).secrets)).toBe(0o700);
    expect(await readFile(join(stateDir, '.gitignore'), 'utf8')).toBe('*\n');
  });
});

describe('admin token', () => {
  it('is created once as 32 random bytes in a 0600 file and reused on the next run', async () => {
    const first = await loadOrCreateAdminToken(stateDir);
    expect(Buffer.from(first, 'base64url')).toHaveLength(32);
    expect(await modeOf(statePaths(stateDir).adminToken)).toBe(0o600);
    expect(await loadOrCreateAdminToken(stateDir)).toBe(first);
    expect(await readAdminToken(stateDir)).toBe(first);
  });

  it('is tightened to 0600 when someone loosened its file', async () => {
    const token = await loadOrCreateAdminToken(stateDir);
    const { chmod } = await import('node:fs/promises');
    await chmod(statePaths(stateDir).adminToken, 0o644);
    expect(await loadOrCreateAdminToken(stateDir)).toBe(token);
    expect(await modeOf(statePaths(stateDir).adminToken)).toBe(0o600);
  });

  it('reads as undefined for a system that never ran', async () => {
    expect(await readAdminToken(join(dir, 'elsewhere'))).toBeUndefined();
  });
});

describe('state file', () => {
  const record = (pid: number) => ({
    pid,
    adminUrl: 'http://127.0.0.1:7070',
    gatewayUrl: 'http://127.0.0.1:8080',
    specFile: join(dir, 'flotilla.yaml'),
    startedAt: new Date().toISOString(),
  });

  it('refuses to start while the recorded control plane is alive', async () => {
    const live = record(process.pid);
    await writeStateFile(stateDir, live);
    const refusal = await claimStateDir(stateDir).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(StateError);
    expect((refusal as StateError).code).toBe('FLOTILLA_ALREADY_RUNNING');
    expect((refusal as StateError).message).toContain('already running at http://127.0.0.1:7070 (pid');
    expect((refusal as StateError).message).toContain('run `flotilla down` first');
    expect(await readStateFile(stateDir)).toEqual(live);
  });

  it('hands back and clears the record of a control plane that died', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    await writeStateFile(stateDir, record(dead));
    const previous = await claimStateDir(stateDir);
    expect(previous?.pid).toBe(dead);
    expect(await readStateFile(stateDir)).toBeUndefined();
  });

  it('treats a half-written record as no record', async () => {
    await writeFile(statePaths(stateDir).stateFile, '{"pid": 12');
    expect(await claimStateDir(stateDir)).toBeUndefined();
  });
});

describe('secrets', () => {
  const spec = () =>
    parseSpec(
      `
name: shop
services:
  orders:
    path: orders
    secrets: [STRIPE_KEY, SIGNING_KEY]
  users:
    path: users
    secrets: [JWT_PRIVATE_KEY]
`,
      { dir },
    );

  it('come from the environment first and from .flotilla/secrets otherwise', async () => {
    await writeFile(join(statePaths(stateDir).secrets, 'SIGNING_KEY'), 'from-file\n', { mode: 0o600 });
    await writeFile(join(statePaths(stateDir).secrets, 'STRIPE_KEY'), 'shadowed\n', { mode: 0o600 });
    const secrets = await resolveSecrets(spec(), { STRIPE_KEY: 'from-env', JWT_PRIVATE_KEY: 'jwt' });
    expect(secrets).toEqual({
      orders: { STRIPE_KEY: 'from-env', SIGNING_KEY: 'from-file' },
      users: { JWT_PRIVATE_KEY: 'jwt' },
    });
  });

  it('marked generate are created at random once, kept 0600, and the same on the next run', async () => {
    const generating = parseSpec(
      `
name: shop
services:
  users:
    path: users
    secrets: [{ name: ADMIN_PASSWORD, generate: true }]
`,
      { dir },
    );
    const heard: string[] = [];
    const first = await resolveSecrets(generating, {}, (service, name, path) =>
      heard.push(`${service} ${name} ${path}`),
    );
    const path = join(statePaths(stateDir).secrets, 'ADMIN_PASSWORD');
    expect(first.users!.ADMIN_PASSWORD).toMatch(/^[\w-]{20,}$/);
    expect(heard).toEqual([`users ADMIN_PASSWORD ${path}`]);
    expect(await modeOf(path)).toBe(0o600);
    const second = await resolveSecrets(generating, {});
    expect(second.users!.ADMIN_PASSWORD).toBe(first.users!.ADMIN_PASSWORD);
    expect((await resolveSecrets(generating, { ADMIN_PASSWORD: 'from-env' })).users).toEqual({
      ADMIN_PASSWORD: 'from-env',
    });
  });

  it('that are missing are all named, with their service and both places to put them', async () => {
    const failure = await resolveSecrets(spec(), { STRIPE_KEY: 'x' }).catch((error: unknown) => error);
    expect((failure as StateError).code).toBe('FLOTILLA_SECRET_MISSING');
    const message = (failure as StateError).message;
    expect(message).toContain('2 secrets are missing');
    expect(message).toContain('service "orders" needs secret SIGNING_KEY');
    expect(message).toContain('service "users" needs secret JWT_PRIVATE_KEY');
    expect(message).toContain('in the environment of `flotilla up`');
    expect(message).toContain(join(stateDir, 'secrets', 'JWT_PRIVATE_KEY'));
  });
});
