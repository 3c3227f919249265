import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAILPOINTS_DIR_ENV } from './failpoint.ts';

const script = `
import { failpoint } from ${JSON.stringify(new URL('./failpoint.ts', import.meta.url).href)};
process.stdout.write('before ');
failpoint('demo.crash');
process.stdout.write('after');
`;

function run(dir: string | undefined) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env:
      dir === undefined ? { PATH: process.env.PATH } : { PATH: process.env.PATH, [FAILPOINTS_DIR_ENV]: dir },
  });
}

describe('failpoint', () => {
  it('does nothing when no failpoints directory is set', () => {
    const result = run(undefined);
    expect(result.stdout).toBe('before after');
    expect(result.status).toBe(0);
  });

  it('kills the process with SIGKILL at the armed point, once, and disarms itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-failpoints-'));
    writeFileSync(join(dir, 'demo.crash'), '');
    const crashed = run(dir);
    expect(crashed.signal).toBe('SIGKILL');
    expect(crashed.stdout).toBe('before ');
    expect(existsSync(join(dir, 'demo.crash'))).toBe(false);
    const again = run(dir);
    expect(again.stdout).toBe('before after');
  });
});
