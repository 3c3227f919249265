import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAdmin, sendJson, startFakeAdmin } from '../testing/fake-admin-server.ts';
import { runFlotilla } from '../testing/run-flotilla.ts';
import { renderRotation } from './ca.ts';

// The admin API is a fake here: the control plane is another package, tested on its own.
let admin: FakeAdmin | undefined;

afterEach(async () => {
  await admin?.close();
  admin = undefined;
});

const rotation = {
  fingerprint:
    'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89',
  notAfter: '2036-06-01T12:00:00.000Z',
  trustBundleSize: 2,
};

describe('flotilla ca rotate', () => {
  it('asks the control plane to rotate and says what happened and what follows', async () => {
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, rotation));
    const result = await runFlotilla(['ca', 'rotate'], { cwd: admin.dir });
    expect(result.code).toBe(0);
    expect(admin.requests).toEqual([{ method: 'POST', url: '/v1/ca/rotate', body: undefined }]);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CA: new root AB:CD:EF:.*:89, valid until 2036-0[56]-\d\d \d\d:\d\d:\d\d$/);
    expect(lines[1]).toBe(
      'trust bundle: 2 roots; the old root stays trusted until every running instance has renewed its certificate from the new one (they do so on their own)',
    );
  });

  it('prints the CaRotation as the API returns it with --json', async () => {
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, rotation));
    const result = await runFlotilla(['ca', 'rotate', '--json'], { cwd: admin.dir });
    expect(JSON.parse(result.stdout)).toEqual(rotation);
  });

  it("prints the API's message when the system has no CA, exit 1", async () => {
    const message = 'mesh.mtls is "disable" in flotilla.yaml, so this system runs no certificate authority';
    admin = await startFakeAdmin((_, res) => sendJson(res, 404, { error: { code: 'NOT_FOUND', message } }));
    const result = await runFlotilla(['ca', 'rotate'], { cwd: admin.dir });
    expect(result).toEqual({ code: 1, stdout: '', stderr: `error: ${message}\n` });
  });

  it('says the system is not running when there is no state file, exit 1', async () => {
    admin = await startFakeAdmin(() => {});
    const result = await runFlotilla(['ca', 'rotate', '-f', '/nonexistent/flotilla.yaml']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: not running/);
  });

  it('says when the old root is dropped at once', () => {
    expect(renderRotation({ ...rotation, trustBundleSize: 1 })).toContain(
      'trust bundle: 1 root; no running instance held a certificate of the old root, so it is no longer trusted',
    );
  });
});

describe('flotilla ca', () => {
  it('asks for an action, and suggests one for a typo, exit 2', async () => {
    const none = await runFlotilla(['ca']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(
      /^error: missing what to do: flotilla ca rotate\nUsage: flotilla ca \[action\]/,
    );
    const typo = await runFlotilla(['ca', 'rotat']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^error: unknown action "rotat", did you mean "rotate"\?/);
  });

  it('shows the rotate form in its help', async () => {
    const result = await runFlotilla(['ca', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('flotilla ca rotate [flags]');
  });
});
