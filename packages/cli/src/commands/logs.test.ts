import type { LogLine } from '@flotilla/control-plane/types';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAdmin, startFakeAdmin } from '../testing/fake-admin-server.ts';
import { runFlotilla, startFlotilla } from '../testing/run-flotilla.ts';

// The admin API is a fake here: the control plane is another package, tested on its own.
let admin: FakeAdmin | undefined;

afterEach(async () => {
  await admin?.close();
  admin = undefined;
});

const at = '2025-01-02T10:20:30.000Z';
const time = Date.parse('2025-01-02T10:20:31.000Z');

function line(text: string, instance = 'orders-v1-1'): LogLine {
  return { instance, service: 'orders', version: 'v1', stream: 'stdout', at, line: text };
}

const history = [
  line(
    JSON.stringify({
      level: 30,
      time,
      pid: 1,
      hostname: 'h',
      service: 'orders',
      msg: 'listening',
      port: 40001,
    }),
  ),
  line(
    JSON.stringify({ level: 50, time, msg: 'payment failed', order: 'o-1', reason: 'card declined' }),
    'orders-v1-2',
  ),
  line('plain text from a console.log'),
];

/** HH:MM:SS in local time, as the CLI prints it. */
function clock(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}

describe('flotilla logs', () => {
  it('prettifies pino lines and prints other lines as they are', async () => {
    admin = await startFakeAdmin((_, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(history.map((l) => `${JSON.stringify(l)}\n`).join(''));
    });
    const result = await runFlotilla(['logs', 'orders'], { cwd: admin.dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        `${clock(time)} orders-v1-1 INFO  listening port=40001`,
        `${clock(time)} orders-v1-2 ERROR payment failed order=o-1 reason="card declined"`,
        `${clock(Date.parse(at))} orders-v1-1 plain text from a console.log`,
        '',
      ].join('\n'),
    );
    expect(admin.requests[0]?.url).toBe('/v1/services/orders/logs?tail=200');
  });

  it('prints the LogLine NDJSON with --json, and passes --instance and --tail on', async () => {
    admin = await startFakeAdmin((_, res) => {
      res.end(history.map((l) => `${JSON.stringify(l)}\n`).join(''));
    });
    const result = await runFlotilla(
      ['logs', 'orders', '--json', '--instance', 'orders-v1-2', '--tail', '5'],
      {
        cwd: admin.dir,
      },
    );
    expect(
      result.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(history);
    expect(admin.requests[0]?.url).toBe('/v1/services/orders/logs?tail=5&instance=orders-v1-2');
  });

  it('keeps printing lines as they arrive with -f', async () => {
    admin = await startFakeAdmin((_, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify(history[2])}\n`);
      setTimeout(() => res.write(`${JSON.stringify(line('a later line'))}\n`), 200);
    });
    const cli = startFlotilla(['logs', 'orders', '-f', '--file', 'flotilla.yaml'], { cwd: admin.dir });
    try {
      await cli.waitFor('plain text from a console.log');
      await cli.waitFor('a later line');
      expect(cli.child.exitCode).toBeNull();
      expect(admin.requests[0]?.url).toBe('/v1/services/orders/logs?tail=200&follow=1');
    } finally {
      cli.child.kill();
    }
  });

  it("prints the API's message for an unknown service, exit 1", async () => {
    admin = await startFakeAdmin((_, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'unknown service "nope"' } }));
    });
    const result = await runFlotilla(['logs', 'nope'], { cwd: admin.dir });
    expect(result).toEqual({ code: 1, stdout: '', stderr: 'error: unknown service "nope"\n' });
  });

  it('rejects a --tail that is not a number, exit 2', async () => {
    const result = await runFlotilla(['logs', 'orders', '--tail', 'all']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: --tail must be a whole number >= 0, got "all"/);
  });
});
