import { describe, expect, it } from 'vitest';
import { prettyLogLine } from './pretty-log.ts';

const at = '2025-01-02T10:20:30.000Z';
const time = Date.parse('2025-01-02T10:20:31.000Z');
const hhmmss = new Date(time).toTimeString().slice(0, 8);

function pretty(record: unknown, color = false): string {
  const line = typeof record === 'string' ? record : JSON.stringify(record);
  return prettyLogLine({ instance: 'orders-v1-1', service: 'orders', version: 'v1', at, line }, { color });
}

describe('prettyLogLine', () => {
  it('names every pino level', () => {
    const names = [10, 20, 30, 40, 50, 60].map((level) => pretty({ level, time, msg: 'm' }).split(' ')[2]);
    expect(names).toEqual(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']);
  });

  it('leaves out what every line repeats and shows the rest as key=value', () => {
    const record = {
      level: 30,
      time,
      pid: 7,
      hostname: 'box',
      service: 'orders',
      version: 'v1',
      instance: 'orders-v1-1',
      msg: 'order placed',
      trace_id: 'abc123',
      total: 12.5,
      paid: true,
      note: 'two words',
      items: [1, 2],
    };
    expect(pretty(record)).toBe(
      `${hhmmss} orders-v1-1 INFO  order placed trace_id=abc123 total=12.5 paid=true note="two words" items=[1,2]`,
    );
  });

  it('shows instance, service and version when they name someone other than the writer', () => {
    const line = JSON.stringify({
      level: 40,
      time,
      pid: 1,
      instance: 'api-v1-2',
      service: 'api',
      msg: 'restarting',
    });
    expect(prettyLogLine({ instance: 'control-plane', at, line }, { color: false })).toBe(
      `${hhmmss} control-plane WARN  restarting instance=api-v1-2 service=api`,
    );
  });

  it("puts an error's stack on the lines below", () => {
    const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (a.ts:1:1)' };
    expect(pretty({ level: 50, time, msg: 'boom', err })).toBe(
      `${hhmmss} orders-v1-1 ERROR boom\n    Error: boom\n        at f (a.ts:1:1)`,
    );
  });

  it('prints lines that are not pino JSON as they are, at the time they arrived', () => {
    const arrived = new Date(at).toTimeString().slice(0, 8);
    expect(pretty('{not json')).toBe(`${arrived} orders-v1-1 {not json`);
    expect(pretty('[1,2]')).toBe(`${arrived} orders-v1-1 [1,2]`);
    expect(pretty('{"a":1}')).toBe(`${arrived} orders-v1-1 {"a":1}`);
  });

  it('accepts level labels as well as numbers', () => {
    expect(pretty({ level: 'warn', time, msg: 'slow' })).toBe(`${hhmmss} orders-v1-1 WARN  slow`);
  });

  it('colours only when asked', () => {
    expect(pretty({ level: 50, time, msg: 'x' })).not.toContain('\u001b[');
    expect(pretty({ level: 50, time, msg: 'x' }, true)).toContain('\u001b[31mERROR');
  });
});
