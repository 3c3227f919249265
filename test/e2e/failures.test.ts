import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { processesOf, type RunningSystem, runCli, startSystem, tempDir, waitFor } from './support.ts';

/** What a user sees when a service cannot start, and when a spec is wrong. */
describe('flotilla up with a service that cannot start', () => {
  const name = `e2e-${randomBytes(3).toString('hex')}`;
  const dir = tempDir();
  let sys: RunningSystem | undefined;

  afterAll(() => {
    if (sys && sys.cli.exitCode === null) sys.cli.kill('SIGKILL');
    for (const pid of processesOf(name, dir)) process.kill(pid, 'SIGKILL');
  });

  it('starts the rest, and shows why in up, status and logs', async () => {
    mkdirSync(join(dir, 'broken/src'), { recursive: true });
    writeFileSync(
      join(dir, 'broken/src/main.ts'),
      "console.error('PAYMENT_KEY is not set: put it in .flotilla/secrets/PAYMENT_KEY');\nprocess.exit(1);\n",
    );
    sys = await startSystem(
      `
name: ${name}
services:
  broken:
    path: broken
    startupTimeoutMs: 2000
`,
      dir,
    );
    // The summary's lines can arrive in more than one chunk of the pipe after "ready in".
    const running = sys;
    await waitFor(
      'the failed instance in the summary',
      () => /broken-v1-1: .*exited with code 1/.test(running.output()),
      5_000,
    );
    expect(sys.output()).toMatch(/broken-v1-1: .*exited with code 1/);

    const status = await sys.cliRun(['status']);
    expect(status.stdout).toMatch(/broken-v1-1\s+\S+\s+\d+\s+(crashloop|starting)/);
    expect(status.stdout).toContain('exited with code 1');

    const logs = await runCli(['logs', 'broken', '--file', join(dir, 'flotilla.yaml'), '--tail', '5'], dir);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('PAYMENT_KEY is not set');
  }, 60_000);

  it('starts nothing when the spec is invalid, and says what is wrong', async () => {
    const bad = tempDir();
    const other = `${name}-bad`;
    writeFileSync(
      join(bad, 'flotilla.yaml'),
      `name: ${other}\nservices:\n  api:\n    path: api\n    replica: 2\n`,
    );
    const result = await runCli(
      ['up', '-f', join(bad, 'flotilla.yaml'), '--gateway-port', '0', '--admin-port', '0'],
      bad,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('services.api: unknown key "replica", did you mean "replicas"?');
    expect(existsSync(join(bad, '.flotilla'))).toBe(false);
    expect(processesOf(other, bad)).toEqual([]);
  });
});
