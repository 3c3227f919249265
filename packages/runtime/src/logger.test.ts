import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';

describe('createLogger', () => {
  it('keeps the process running when the reader of its output goes away (a dead control plane)', async () => {
    const child = spawn(process.execPath, [new URL('./logger.fixture.ts', import.meta.url).pathname], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    await once(child.stdout, 'data');
    child.stdout.destroy();
    const [code] = await once(child, 'exit');
    expect(stderr).toBe('still running\n');
    expect(code).toBe(0);
  });
});
