import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAdmin, sampleStatus, sendJson, startFakeAdmin } from '../testing/fake-admin-server.ts';
import { runFlotilla } from '../testing/run-flotilla.ts';
import { renderStatus } from './status.ts';

// The admin API is a fake here: the control plane is another package, tested on its own.
let admin: FakeAdmin | undefined;

afterEach(async () => {
  await admin?.close();
  admin = undefined;
});

describe('flotilla status', () => {
  it('prints a table per service with pid, port, state, restarts and uptime', async () => {
    const status = sampleStatus(130_000);
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, status));
    const result = await runFlotilla(['status'], { cwd: admin.dir });
    expect(result.code).toBe(0);
    expect(admin.requests).toEqual([{ method: 'GET', url: '/v1/status', body: undefined }]);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^shop: up 2m1\ds, control plane pid 4242, table revision 7$/);
    expect(lines).toContain('  mail     SMTP sink 127.0.0.1:2525 (flotilla mail lists what arrived)');
    expect(lines).toContain(
      '  bus      PostgreSQL 127.0.0.1:5432 (flotilla dead-letters lists failed events)',
    );
    expect(lines).toContain('orders  v1 100% x2');
    expect(lines).toContain('  VERSION  INSTANCE     PID   PORT   STATE      RESTARTS  UPTIME');
    expect(result.stdout).toMatch(/^ {2}v1 {7}orders-v1-1 {2}5001 {2}40001 {2}ready {6}0 {9}2m1\ds$/m);
    expect(lines).toContain('  v1       orders-v1-2  -     40002  crashloop  3         -');
    expect(lines).toContain('  orders-v1-2: exited with code 1');
  });

  it('prints the SystemStatus as the API returns it with --json', async () => {
    const status = sampleStatus();
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, status));
    const result = await runFlotilla(['status', '--json'], { cwd: admin.dir });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(status);
  });

  it('carries who ejects an instance in --json', async () => {
    const status = sampleStatus();
    status.services[0]!.instances[1]!.ejected = { by: ['gateway-v1-1'], until: '2026-01-01T12:00:30.000Z' };
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, status));
    const result = await runFlotilla(['status', '--json'], { cwd: admin.dir });
    expect(JSON.parse(result.stdout).services[0].instances[1].ejected).toEqual({
      by: ['gateway-v1-1'],
      until: '2026-01-01T12:00:30.000Z',
    });
  });

  it('finds the state dir beside the spec given with --file', async () => {
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, sampleStatus()));
    const result = await runFlotilla(['status', '-f', join(admin.dir, 'flotilla.yaml'), '--json']);
    expect(result.code).toBe(0);
  });

  it('says the system is not running and exits 1 when there is no state file', async () => {
    admin = await startFakeAdmin(() => {});
    rmSync(join(admin.dir, '.flotilla', 'state.json'));
    const result = await runFlotilla(['status'], { cwd: admin.dir });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: not running (no .flotilla/state.json); start it with: flotilla up\n',
    });
  });

  it('says the system is not running when the recorded control-plane pid is gone', async () => {
    admin = await startFakeAdmin(() => {}, { pid: await deadPid() });
    const result = await runFlotilla(['status'], { cwd: admin.dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: not running \(control plane pid \d+ is gone\)/);
  });

  it('says the system is not running when nothing listens on the admin URL', async () => {
    admin = await startFakeAdmin(() => {});
    const stateFile = join(admin.dir, '.flotilla', 'state.json');
    const port = await closedPort();
    writeFileSync(stateFile, JSON.stringify({ pid: process.pid, adminUrl: `http://127.0.0.1:${port}` }));
    const result = await runFlotilla(['status'], { cwd: admin.dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: not running (nothing listens on http://127.0.0.1:${port}); start it with: flotilla up\n`,
    );
  });

  it('explains a rejected admin token', async () => {
    admin = await startFakeAdmin(() => {});
    writeFileSync(join(admin.dir, '.flotilla', 'admin-token'), 'stale');
    const result = await runFlotilla(['status'], { cwd: admin.dir });
    expect(result).toMatchObject({ code: 1, stderr: 'error: missing or wrong admin token\n' });
  });
});

describe('renderStatus', () => {
  it('says who ejects an instance as an outlier and until when', () => {
    const status = sampleStatus();
    status.services[0]!.instances[0]!.ejected = {
      by: ['gateway-v1-1', 'users-v1-2'],
      until: '2026-01-01T12:00:30.000Z',
    };
    const text = renderStatus(status, Date.now(), false);
    expect(text).toMatch(
      /^ {2}orders-v1-1: ejected by gateway-v1-1, users-v1-2 until 2026-01-01 \d\d:\d\d:30$/m,
    );
    expect(text).not.toContain('orders-v1-2: ejected');
  });

  it('names the relay where mail goes when one is configured', () => {
    const status = { ...sampleStatus(), mail: { mode: 'relay', address: 'smtp.example.com:587' } as const };
    expect(renderStatus(status, Date.now(), false)).toContain(
      '\n  mail     SMTP relay smtp.example.com:587\n',
    );
  });

  it('names the RabbitMQ broker by host and port only, and says when no service uses events', () => {
    const rabbit = { ...sampleStatus(), bus: { kind: 'rabbitmq', address: '127.0.0.1:5672' } as const };
    expect(renderStatus(rabbit, Date.now(), false)).toContain(
      '\n  bus      RabbitMQ 127.0.0.1:5672 (flotilla dead-letters lists failed events)\n',
    );
    const none = { ...sampleStatus(), bus: { kind: 'none', address: null } as const };
    expect(renderStatus(none, Date.now(), false)).toContain('\n  bus      none (no service has events)\n');
  });

  it('shows uptimes as people read them and no colour unless asked', () => {
    const status = sampleStatus(3_725_000);
    const text = renderStatus(status, Date.parse(status.startedAt) + 3_725_000, false);
    expect(text).toMatch(/^shop: up 1h02m,/);
    expect(text).toContain(' ready      0         1h02m');
    expect(text).not.toContain('\u001b[');
  });

  it('colours states on a terminal', () => {
    const status = sampleStatus();
    expect(renderStatus(status, Date.now(), true)).toContain('\u001b[32mready');
  });
});

/** A pid that belonged to a process which has exited. */
async function deadPid(): Promise<number> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

/** A port that was free a moment ago and has nothing listening on it now. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
