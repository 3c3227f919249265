import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAdmin, sendJson, startFakeAdmin } from '../testing/fake-admin-server.ts';
import { runFlotilla } from '../testing/run-flotilla.ts';

// The admin API is a fake here: the control plane is another package, tested on its own. A real
// process stands in for the control plane's pid, so that `down` has something to wait for.
let admin: FakeAdmin | undefined;
let controlPlane: ChildProcess | undefined;

afterEach(async () => {
  controlPlane?.kill('SIGKILL');
  controlPlane = undefined;
  await admin?.close();
  admin = undefined;
});

function startStandIn(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
}

describe('flotilla down', () => {
  it('asks for a shutdown and returns once the control-plane process has exited', async () => {
    const standIn = startStandIn();
    controlPlane = standIn;
    admin = await startFakeAdmin(
      (_, res) => {
        sendJson(res, 202, { stopping: true });
        setTimeout(() => standIn.kill('SIGTERM'), 300);
      },
      { pid: standIn.pid },
    );
    const result = await runFlotilla(['down'], { cwd: admin.dir });
    expect(result.code).toBe(0);
    expect(admin.requests).toEqual([{ method: 'POST', url: '/v1/shutdown', body: undefined }]);
    expect(result.stdout).toMatch(
      new RegExp(`^stopping \\(control plane pid ${standIn.pid}\\)\\.\\.\\.\\nstopped in \\d+\\.\\d s\\n$`),
    );
    expect(standIn.exitCode !== null || standIn.signalCode !== null).toBe(true);
  });

  it('says "not running" and exits 0 when there is no state', async () => {
    admin = await startFakeAdmin(() => {});
    rmSync(join(admin.dir, '.flotilla', 'state.json'));
    const result = await runFlotilla(['down'], { cwd: admin.dir });
    expect(result).toEqual({ code: 0, stdout: 'not running\n', stderr: '' });
  });

  it('says "not running" when the recorded pid is gone, without calling the API', async () => {
    const standIn = startStandIn();
    await new Promise((resolve) => {
      standIn.on('exit', resolve);
      standIn.kill();
    });
    admin = await startFakeAdmin(() => {}, { pid: standIn.pid });
    const result = await runFlotilla(['down'], { cwd: admin.dir });
    expect(result).toEqual({ code: 0, stdout: 'not running\n', stderr: '' });
    expect(admin.requests).toEqual([]);
  });
});
