import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DeadLetterEntry, DeadLetterList } from '@flotilla/control-plane/types';
import { afterEach, describe, expect, it } from 'vitest';
import { localTime } from '../local-time.ts';
import { type FakeAdmin, sendJson, startFakeAdmin } from '../testing/fake-admin-server.ts';
import { runFlotilla } from '../testing/run-flotilla.ts';

// The admin API is a fake here: the control plane is another package, tested on its own.
let admin: FakeAdmin | undefined;

afterEach(async () => {
  await admin?.close();
  admin = undefined;
});

function letter(id: string, fields: Partial<DeadLetterEntry> = {}): DeadLetterEntry {
  return {
    service: 'notifications',
    id,
    subscription: 'notifications',
    eventId: '0b7e4a52-5d1c-4c8e-9d39-1f6a1e0c2b11',
    type: 'order.paid',
    error: 'Error: the SMTP relay refused the message\n    at send (mailer.ts:12:5)',
    attempts: 10,
    failedAt: '2026-03-04T05:06:07.000Z',
    ...fields,
  };
}

describe('flotilla dead-letters', () => {
  it('lists the dead letters oldest first, each error cut to its first line', async () => {
    const list: DeadLetterList = {
      deadLetters: [
        letter('12'),
        letter('3', {
          service: 'shipping',
          subscription: 'shipping',
          eventId: null,
          type: null,
          error: `EventsError: ${'x'.repeat(80)}`,
          attempts: 1,
          failedAt: '2026-03-04T05:07:00.000Z',
        }),
      ],
    };
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, list));
    const result = await runFlotilla(['dead-letters'], { cwd: admin.dir });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(admin.requests).toEqual([{ method: 'GET', url: '/v1/dead-letters?limit=100', body: undefined }]);
    const t1 = localTime('2026-03-04T05:06:07.000Z');
    const t2 = localTime('2026-03-04T05:07:00.000Z');
    const cut = `EventsError: ${'x'.repeat(46)}…`;
    expect(result.stdout).toBe(
      [
        'FAILED AT            SERVICE        TYPE        EVENT ID                              ATTEMPTS  ERROR                                                         ID',
        `${t1}  notifications  order.paid  0b7e4a52-5d1c-4c8e-9d39-1f6a1e0c2b11  10        Error: the SMTP relay refused the message                     12`,
        `${t2}  shipping       -           -                                     1         ${cut}  3`,
        '',
      ].join('\n'),
    );
  });

  it('passes --service and --limit on, and says when that service has none', async () => {
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, { deadLetters: [] }));
    const result = await runFlotilla(['dead-letters', '--service', 'notifications', '--limit', '5'], {
      cwd: admin.dir,
    });
    expect(result).toEqual({ code: 0, stdout: 'no dead letters in notifications\n', stderr: '' });
    expect(admin.requests[0]?.url).toBe('/v1/dead-letters?limit=5&service=notifications');
  });

  it('prints what the admin API returns with --json, errors whole', async () => {
    const list: DeadLetterList = { deadLetters: [letter('12')] };
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, list));
    const result = await runFlotilla(['dead-letters', '--json'], { cwd: admin.dir });
    expect(JSON.parse(result.stdout)).toEqual(list);
  });

  it("prints the API's message for a service that consumes no events, exit 1", async () => {
    const message =
      '"web" is not a service that subscribes to events, so it has no dead letters (those that do: notifications).';
    admin = await startFakeAdmin((_, res) => sendJson(res, 404, { error: { code: 'NOT_FOUND', message } }));
    const result = await runFlotilla(['dead-letters', '--service', 'web'], { cwd: admin.dir });
    expect(result).toEqual({ code: 1, stdout: '', stderr: `error: ${message}\n` });
  });

  it('says the system is not running and exits 1 when there is no state file', async () => {
    admin = await startFakeAdmin(() => {});
    rmSync(join(admin.dir, '.flotilla', 'state.json'));
    for (const args of [['dead-letters'], ['dead-letters', 'replay', 'notifications', '--all']]) {
      expect(await runFlotilla(args, { cwd: admin.dir })).toEqual({
        code: 1,
        stdout: '',
        stderr: 'error: not running (no .flotilla/state.json); start it with: flotilla up\n',
      });
    }
  });

  it('rejects a --limit that is not a number, exit 2', async () => {
    const result = await runFlotilla(['dead-letters', '--limit', 'all']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: --limit must be a whole number from 1 to 1000, got "all"/);
  });

  it('explains both forms with --help', async () => {
    const result = await runFlotilla(['dead-letters', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      'Usage: flotilla dead-letters [flags]\n       flotilla dead-letters replay <service> [id...] [flags]\n',
    );
    expect(result.stdout).toContain('--service <name>');
    expect(result.stdout).toContain('flotilla_dead_letters');
    const replay = await runFlotilla(['dead-letters', 'replay', '--help']);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('Usage: flotilla dead-letters replay <service> [id...] [flags]');
    expect(replay.stdout).toContain('--all');
    expect(replay.stdout).toContain('flotilla dead-letters replay notifications --all');
  });
});

describe('flotilla dead-letters replay', () => {
  it('replays the ids named and says which', async () => {
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, { replayed: ['12', '13'] }));
    const result = await runFlotilla(['dead-letters', 'replay', 'notifications', '12', '13'], {
      cwd: admin.dir,
    });
    expect(result).toEqual({
      code: 0,
      stdout: 'notifications: replayed 2 dead letters (12, 13)\n',
      stderr: '',
    });
    expect(admin.requests).toEqual([
      {
        method: 'POST',
        url: '/v1/dead-letters/replay',
        body: { service: 'notifications', ids: ['12', '13'] },
      },
    ]);
  });

  it('names the ids that were not there and exits 1', async () => {
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, { replayed: ['12'] }));
    const result = await runFlotilla(['dead-letters', 'replay', 'notifications', '12', '14'], {
      cwd: admin.dir,
    });
    expect(result).toEqual({
      code: 1,
      stdout: 'notifications: replayed 1 dead letter (12)\n',
      stderr:
        'error: notifications has no dead letter 14 (replayed already?); flotilla dead-letters --service notifications lists those left\n',
    });
  });

  it('replays every dead letter of the service with --all', async () => {
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, { replayed: ['1', '2', '3'] }));
    const result = await runFlotilla(['dead-letters', 'replay', 'notifications', '--all'], {
      cwd: admin.dir,
    });
    expect(result).toEqual({
      code: 0,
      stdout: 'notifications: replayed 3 dead letters (1, 2, 3)\n',
      stderr: '',
    });
    expect(admin.requests[0]?.body).toEqual({ service: 'notifications', all: true });
  });

  it('says so when --all finds nothing to replay, and prints the answer with --json', async () => {
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, { replayed: [] }));
    const plain = await runFlotilla(['dead-letters', 'replay', 'notifications', '--all'], { cwd: admin.dir });
    expect(plain.stdout).toBe('notifications: no dead letters to replay\n');
    const json = await runFlotilla(['dead-letters', 'replay', 'notifications', '--all', '--json'], {
      cwd: admin.dir,
    });
    expect(JSON.parse(json.stdout)).toEqual({ replayed: [] });
  });

  it.each([
    [
      'neither ids nor --all',
      ['notifications'],
      'error: name the dead letters of notifications to replay by id (flotilla dead-letters --service notifications lists them), or pass --all to replay every one',
    ],
    ['both ids and --all', ['notifications', '12', '--all'], 'error: give ids or --all, not both'],
    ['an id that is not a number', ['notifications', 'abc'], 'error: dead-letter ids are whole numbers'],
    ['no service', [], 'error: missing <service>'],
  ])('refuses %s without calling the admin API, exit 2', async (_, args, error) => {
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, { replayed: ['1'] }));
    const result = await runFlotilla(['dead-letters', 'replay', ...args], { cwd: admin.dir });
    expect(result.code).toBe(2);
    expect(result.stderr.startsWith(error)).toBe(true);
    expect(result.stderr).toContain('Usage: flotilla dead-letters replay <service> [id...] [flags]');
    expect(admin.requests).toEqual([]);
  });
});
