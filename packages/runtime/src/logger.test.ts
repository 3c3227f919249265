import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readInstanceEnv } from '@flotilla/spec';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from './logger.ts';

describe('createLogger', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stamps every line with the ISO time of the millisecond it was written in', () => {
    const lines: string[] = [];
    const log = createLogger(readInstanceEnv({}), { write: (line: string) => void lines.push(line) });
    vi.useFakeTimers({ now: Date.parse('2026-01-02T03:04:05.006Z') });
    log.info('first');
    log.info('same millisecond');
    vi.advanceTimersByTime(1);
    log.info('next millisecond');

    expect(lines.map((line) => JSON.parse(line).time)).toEqual([
      '2026-01-02T03:04:05.006Z',
      '2026-01-02T03:04:05.006Z',
      '2026-01-02T03:04:05.007Z',
    ]);
  });

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
