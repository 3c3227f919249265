import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadSpec, type RoutingTable } from '@flotilla/spec';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type ControlPlane, readStateFile, StateError, startControlPlane } from './index.ts';
import { isProcessAlive } from './state/index.ts';
import type { DeadLetterList, MailList, SystemStatus } from './types.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const log = pino({ level: 'silent' });

let dir: string | undefined;
const running: ControlPlane[] = [];

afterEach(async () => {
  for (const cp of running.splice(0)) await cp.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A project directory with a spec running the echo fixture; the secret is written unless told not to. */
async function project(options: { secret: boolean }): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-wiring-'));
  // As root the embedded PostgreSQL runs as the postgres user, who must reach the project directory.
  await chmod(dir, 0o755);
  const system = `wiring-${randomBytes(3).toString('hex')}`;
  const file = join(dir, 'flotilla.yaml');
  await writeFile(
    file,
    `
name: ${system}
controlPlane: { port: 0 }
# The echo fixture speaks plaintext only, and the gateway calls services over mutual TLS unless this says not to.
mesh: { mtls: disable }
gateway:
  listen: { port: 0 }
  routes:
    - match: { pathPrefix: /echo }
      service: echo
services:
  echo:
    path: ${relative(dir, FIXTURES)}
    entry: echo-service.ts
    replicas: 2
    database: true
    secrets: [ECHO_SECRET, { name: ECHO_TOKEN, generate: true }]
    events: { subscribes: [echo.said] }
infrastructure:
  postgres: { port: 0 }
`,
  );
  if (options.secret) {
    await mkdir(join(dir, '.flotilla', 'secrets'), { recursive: true, mode: 0o700 });
    await writeFile(join(dir, '.flotilla', 'secrets', 'ECHO_SECRET'), 'open-sesame\n', { mode: 0o600 });
  }
  return file;
}

/** A project directory with a spec running the echo fixture alone, under mutual TLS (permissive). */
async function meshProject(): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-wiring-mesh-'));
  const file = join(dir, 'flotilla.yaml');
  await writeFile(
    file,
    `
name: wiring-mesh-${randomBytes(3).toString('hex')}
controlPlane: { port: 0 }
gateway: { listen: { port: 0 } }
mesh: { mtls: permissive, certificates: { ttlMs: 600000 } }
services:
  echo:
    path: ${relative(dir, FIXTURES)}
    entry: echo-service.ts
`,
  );
  return file;
}

/** Whether a TCP connection to host:port opens. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function getJson<T>(url: string, token?: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, body: (await response.json()) as T };
}

describe('startControlPlane', () => {
  it('runs a service with its database, secrets, event bus and mail behind the gateway, then shuts everything down on request', async () => {
    const file = await project({ secret: true });
    const spec = loadSpec(file);
    const progress: string[] = [];
    const cp = await startControlPlane({ spec, log, onProgress: (m) => progress.push(m) });
    running.push(cp);

    expect(cp.failed).toEqual([]);
    expect(progress.some((m) => /^postgres: started on 127\.0\.0\.1:\d+/.test(m))).toBe(true);
    expect(progress).toContain('instances: starting 3');
    expect(progress).toContain(
      `secrets: generated ECHO_TOKEN for echo in ${join('.flotilla', 'secrets', 'ECHO_TOKEN')}`,
    );
    const busDatabase = `flotilla_${spec.name.replaceAll('-', '_')}_bus`;
    expect(progress).toContain(`postgres: event bus database ready: ${busDatabase}`);
    expect(
      progress.some((m) => /^bus: postgres on 127\.0\.0\.1:\d+, subscriptions declared: echo$/.test(m)),
    ).toBe(true);
    // Declared before the instances: nothing an early producer publishes may find no queue.
    expect(progress.findIndex((m) => m.startsWith('bus: '))).toBeLessThan(
      progress.indexOf('instances: starting 3'),
    );
    expect(progress.some((m) => /^mail: SMTP sink on 127\.0\.0\.1:\d+ \(flotilla mail lists/.test(m))).toBe(
      true,
    );
    expect(await readStateFile(spec.stateDir)).toMatchObject({
      pid: process.pid,
      adminUrl: cp.adminUrl,
      gatewayUrl: cp.gatewayUrl,
      specFile: file,
    });

    const status = await getJson<SystemStatus>(`${cp.adminUrl}/v1/status`, cp.adminToken);
    expect(status.status).toBe(200);
    expect(status.body.postgres.mode).toBe('embedded');
    expect(status.body.bus).toEqual({
      kind: 'postgres',
      address: `${status.body.postgres.host}:${status.body.postgres.port}`,
    });
    expect(status.body.mail).toEqual({ mode: 'sink', address: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(JSON.stringify(status.body)).not.toMatch(/smtp:\/\/flotilla:/);
    const echo = status.body.services.find((s) => s.name === 'echo')!;
    expect(echo.instances.map((i) => i.state)).toEqual(['ready', 'ready']);
    expect(status.body.services.find((s) => s.name === 'gateway')?.instances[0]?.state).toBe('ready');

    const table = await getJson<RoutingTable>(`${cp.adminUrl}/v1/table`, cp.adminToken);
    expect(table.body.revision).toBe(status.body.revision);
    expect(table.body.services.echo?.endpoints.map((e) => e.port).sort()).toEqual(
      echo.instances.map((i) => i.port).sort(),
    );

    const port = echo.instances[0]!.port;
    const who = await getJson<Record<string, unknown>>(`http://127.0.0.1:${port}/`);
    expect(who.body).toMatchObject({
      service: 'echo',
      version: 'v1',
      controlUrl: cp.adminUrl,
      hasDataPlaneToken: true,
      hasInstanceToken: true,
      hasSecret: true,
      hasGeneratedSecret: true,
      busUrlScheme: 'postgres',
    });
    expect(table.body.mesh).toMatchObject({ mtls: 'disable', trustBundle: [] });
    expect(progress).toContain('mesh: mutual TLS disabled, no certificate authority');
    expect(existsSync(join(spec.stateDir, 'ca'))).toBe(false);
    const deadLetters = await getJson<DeadLetterList>(`${cp.adminUrl}/v1/dead-letters`, cp.adminToken);
    expect(deadLetters).toEqual({ status: 200, body: { deadLetters: [] } });
    const db = await getJson<{ name: string; role: string }>(`http://127.0.0.1:${port}/db`);
    expect(db.body.name).toBe(`flotilla_${spec.name.replaceAll('-', '_')}_echo`);
    expect(db.body.role).toBe(db.body.name);

    const mailed = await getJson<{ response: string }>(`http://127.0.0.1:${port}/mail`);
    expect(mailed.body.response).toMatch(/^250 OK: stored as /);
    const mail = await getJson<MailList>(`${cp.adminUrl}/v1/mail?to=alice@example.com`, cp.adminToken);
    expect(mail.body.messages.map((m) => m.subject)).toEqual([`hello from ${echo.instances[0]!.id}`]);

    const viaGateway = await getJson<{ path: string; service: string }>(`${cp.gatewayUrl}/echo/hello`);
    expect(viaGateway.status).toBe(200);
    expect(viaGateway.body.service).toBe('echo');

    const refused = await startControlPlane({ spec, log }).catch((e: unknown) => e);
    expect((refused as StateError).code).toBe('FLOTILLA_ALREADY_RUNNING');
    expect((refused as StateError).message).toContain(`already running at ${cp.adminUrl}`);

    const pids = [...echo.instances.map((i) => i.pid!)];
    const shutdown = await fetch(`${cp.adminUrl}/v1/shutdown`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cp.adminToken}` },
    });
    expect(shutdown.status).toBe(202);
    await cp.closed;
    expect(pids.every((pid) => !isProcessAlive(pid))).toBe(true);
    expect(await readStateFile(spec.stateDir)).toBeUndefined();
    expect(existsSync(join(spec.stateDir, 'postgres', 'postmaster.pid'))).toBe(false);
    await expect(fetch(`${cp.adminUrl}/v1/status`)).rejects.toThrow();
    const [host, sinkPort] = status.body.mail!.address.split(':') as [string, string];
    await expect(connects(host, Number(sinkPort))).resolves.toBe(false);
  }, 120_000);

  it('gives each instance a token and a certificate for its own workload from the CA in .flotilla/ca, and rotates that CA on request', async () => {
    const spec = loadSpec(await meshProject());
    const progress: string[] = [];
    const cp = await startControlPlane({ spec, log, onProgress: (m) => progress.push(m) });
    running.push(cp);
    expect(cp.failed).toEqual([]);
    expect(progress).toContain('mesh: mutual TLS permissive, certificate authority in .flotilla/ca');
    const files = { dir: join(spec.stateDir, 'ca'), root: join(spec.stateDir, 'ca', 'root.pem') };
    expect((await stat(files.dir)).mode & 0o777).toBe(0o700);
    expect((await stat(files.root)).mode & 0o777).toBe(0o600);
    expect((await stat(join(files.dir, 'root-key.pem'))).mode & 0o777).toBe(0o600);

    const table = await getJson<RoutingTable>(`${cp.adminUrl}/v1/table`, cp.adminToken);
    expect(table.body.mesh.trustBundle).toEqual([await readFile(files.root, 'utf8')]);
    const status = await getJson<SystemStatus>(`${cp.adminUrl}/v1/status`, cp.adminToken);
    const echo = status.body.services.find((s) => s.name === 'echo')!.instances[0]!;
    expect(echo.ejected).toBeNull();
    const certificate = () =>
      getJson<{ uri: string; issuedByNewest: boolean }>(`http://127.0.0.1:${echo.port}/certificate`);
    expect(await certificate()).toEqual({
      status: 200,
      body: { uri: `URI:spiffe://flotilla.local/ns/${spec.name}/sa/echo/v/v1`, issuedByNewest: true },
    });

    const rotated = await fetch(`${cp.adminUrl}/v1/ca/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cp.adminToken}` },
    });
    expect(rotated.status).toBe(200);
    const rotation = (await rotated.json()) as { fingerprint: string; trustBundleSize: number };
    // The echo instance holds a certificate of the old root, so the old root stays trusted.
    expect(rotation.trustBundleSize).toBe(2);
    const after = await getJson<RoutingTable>(`${cp.adminUrl}/v1/table`, cp.adminToken);
    expect(after.body.revision).toBeGreaterThan(table.body.revision);
    expect(after.body.mesh.trustBundle[0]).toBe(table.body.mesh.trustBundle[0]);
    expect(new X509Certificate(after.body.mesh.trustBundle.at(-1)!).fingerprint256).toBe(
      rotation.fingerprint,
    );
    expect(await readFile(files.root, 'utf8')).toBe(after.body.mesh.trustBundle.at(-1));
    expect((await certificate()).body.issuedByNewest).toBe(true);
  }, 60_000);

  it('names a missing secret and both places to put it before starting anything', async () => {
    const file = await project({ secret: false });
    const spec = loadSpec(file);
    const failure = await startControlPlane({ spec, log }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StateError);
    expect((failure as StateError).code).toBe('FLOTILLA_SECRET_MISSING');
    expect((failure as StateError).message).toContain('service "echo" needs secret ECHO_SECRET');
    expect((failure as StateError).message).toContain(join(spec.stateDir, 'secrets', 'ECHO_SECRET'));
    expect(existsSync(join(spec.stateDir, 'postgres'))).toBe(false);
    expect(await readStateFile(spec.stateDir)).toBeUndefined();
  });
});
