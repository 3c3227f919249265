import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LogLine } from '../types.ts';
import { LogStore } from './index.ts';
import { LineSplitter } from './line-splitter.ts';

function split(chunks: (string | Buffer)[], maxLineBytes = 64 * 1024): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter(maxLineBytes, (line) => lines.push(line));
  for (const chunk of chunks) splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  splitter.end();
  return lines;
}

describe('LineSplitter', () => {
  it.each([
    ['one line per newline', ['a\nb\n'], ['a', 'b']],
    ['a partial line waits for the rest', ['h', 'ey\nyo', 'u\n'], ['hey', 'you']],
    ['a last line without newline is kept at the end', ['a\nb'], ['a', 'b']],
    ['CRLF endings lose the CR', ['a\r\nb\r\n'], ['a', 'b']],
    ['empty lines stay', ['\n\na\n'], ['', '', 'a']],
    ['a long line is cut into pieces of the cap', ['abcdefghij\n'], ['abcd', 'efgh', 'ij']],
    ['a line of exactly the cap stays whole', ['abcd\nef\n'], ['abcd', 'ef']],
  ])('%s', (_name, chunks, expected) => {
    expect(split(chunks, 4)).toEqual(expected);
  });

  it('never cuts a UTF-8 character in two, even across chunks', () => {
    const euro = Buffer.from('€');
    expect(split([Buffer.from('a'), euro.subarray(0, 1), euro.subarray(1), Buffer.from('\n')])).toEqual([
      'a€',
    ]);
    expect(split(['ab€€\n'], 4)).toEqual(['ab', '€', '€']);
  });

  it('caps a line at 64 KiB by default, losing nothing', () => {
    const lines = split(['x'.repeat(64 * 1024 + 10), '\n']);
    expect(lines.map((l) => l.length)).toEqual([64 * 1024, 10]);
  });
});

describe('LogStore', () => {
  let stateDir: string;
  let store: LogStore;
  const orders1 = { instance: 'orders-v1-1', service: 'orders', version: 'v1' };
  const orders2 = { instance: 'orders-v1-2', service: 'orders', version: 'v1' };
  const users1 = { instance: 'users-v1-1', service: 'users', version: 'v1' };

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'flotilla-logs-'));
    store = new LogStore({ stateDir });
  });

  afterEach(async () => {
    await store.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('captures a real process with stream and instance, into memory and its own file', async () => {
    const child = spawn(
      process.execPath,
      ['-e', 'console.log("out one"); console.error("err one"); process.stdout.write("out two")'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    store.capture(orders1, 'stdout', child.stdout);
    store.capture(orders1, 'stderr', child.stderr);
    await once(child, 'close');

    const lines = store.tail({ instance: 'orders-v1-1' }, 10);
    expect(lines.map((l) => [l.stream, l.line]).sort()).toEqual([
      ['stderr', 'err one'],
      ['stdout', 'out one'],
      ['stdout', 'out two'],
    ]);
    for (const line of lines) {
      expect(line).toMatchObject({ instance: 'orders-v1-1', service: 'orders', version: 'v1' });
      expect(Number.isNaN(Date.parse(line.at))).toBe(false);
    }
    await store.close();
    const file = join(stateDir, 'logs', 'orders', 'orders-v1-1.log');
    expect(readFileSync(file, 'utf8').split('\n').sort()).toEqual(['', 'err one', 'out one', 'out two']);
    expect(statSync(join(stateDir, 'logs', 'orders')).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('tails by workload or instance in arrival order, and keeps the last 1000 lines of each instance', () => {
    const a = new PassThrough();
    const b = new PassThrough();
    const c = new PassThrough();
    store.capture(orders1, 'stdout', a);
    store.capture(orders2, 'stdout', b);
    store.capture(users1, 'stdout', c);
    a.write('a1\n');
    b.write('b1\n');
    c.write('c1\n');
    a.write('a2\n');
    expect(store.tail({ workload: 'orders' }, 10).map((l) => l.line)).toEqual(['a1', 'b1', 'a2']);
    expect(store.tail({ workload: 'orders' }, 2).map((l) => l.line)).toEqual(['b1', 'a2']);
    expect(store.tail({ instance: 'orders-v1-2' }, 10).map((l) => l.line)).toEqual(['b1']);
    expect(store.tail({}, 10).map((l) => l.line)).toEqual(['a1', 'b1', 'c1', 'a2']);
    expect(store.tail({ workload: 'nobody' }, 10)).toEqual([]);

    for (let i = 0; i < 1_500; i++) a.write(`line ${i}\n`);
    const kept = store.tail({ instance: 'orders-v1-1' }, 5_000);
    expect(kept).toHaveLength(1_000);
    expect(kept[0]?.line).toBe('line 500');
    expect(kept.at(-1)?.line).toBe('line 1499');
    for (const stream of [a, b, c]) stream.end();
  });

  it('follows new lines that match until unsubscribed, and drops a follower that throws', () => {
    const a = new PassThrough();
    const c = new PassThrough();
    store.capture(orders1, 'stdout', a);
    store.capture(users1, 'stderr', c);
    const followed: LogLine[] = [];
    const unsubscribe = store.subscribe({ workload: 'orders' }, (line) => followed.push(line));
    let broken = 0;
    store.subscribe({}, () => {
      broken++;
      throw new Error('response closed');
    });
    a.write('first\n');
    c.write('other service\n');
    a.write('sec');
    a.write('ond\n');
    unsubscribe();
    a.write('after\n');
    expect(followed.map((l) => [l.instance, l.stream, l.line])).toEqual([
      ['orders-v1-1', 'stdout', 'first'],
      ['orders-v1-1', 'stdout', 'second'],
    ]);
    expect(broken).toBe(1);
    a.end();
    c.end();
  });
});
