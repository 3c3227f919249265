import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { MailList, MailMessage } from '@flotilla/control-plane/types';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAdmin, sendJson, startFakeAdmin } from '../testing/fake-admin-server.ts';
import { runFlotilla } from '../testing/run-flotilla.ts';

// The admin API is a fake here: the control plane is another package, tested on its own.
let admin: FakeAdmin | undefined;

afterEach(async () => {
  await admin?.close();
  admin = undefined;
});

function message(id: string, fields: Partial<MailMessage> = {}): MailMessage {
  return {
    id,
    messageId: `<${id}@shop.example.com>`,
    from: '"Flotilla Shop" <shop@example.com>',
    to: ['alice@example.com'],
    cc: [],
    envelopeTo: ['alice@example.com'],
    subject: 'Your order',
    receivedAt: '2026-03-04T05:06:07.000Z',
    size: 812,
    receivedCount: 1,
    text: 'Your order o-1 has shipped.\n',
    textTruncated: false,
    ...fields,
  };
}

const sinkList = (messages: MailMessage[]): MailList => ({
  mode: 'sink',
  address: '127.0.0.1:2525',
  messages,
});

/** `YYYY-MM-DD HH:MM:SS` in local time, as the CLI prints it. */
function localTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

describe('flotilla mail', () => {
  it('lists the messages newest first with when, to whom, the subject and the id', async () => {
    const list = sinkList([
      message('aaaaaaaaaaaa', {
        subject: 'Welcome',
        receivedCount: 2,
        receivedAt: '2026-03-04T05:07:00.000Z',
      }),
      message('bbbbbbbbbbbb', { to: [], envelopeTo: ['audit@example.com'], subject: '' }),
    ]);
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, list));
    const result = await runFlotilla(['mail'], { cwd: admin.dir });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(admin.requests).toEqual([{ method: 'GET', url: '/v1/mail?limit=50', body: undefined }]);
    const t1 = localTime('2026-03-04T05:07:00.000Z');
    const t2 = localTime('2026-03-04T05:06:07.000Z');
    expect(result.stdout).toBe(
      [
        'RECEIVED             TO                 SUBJECT       ID',
        `${t1}  alice@example.com  Welcome (x2)  aaaaaaaaaaaa`,
        `${t2}  audit@example.com  (no subject)  bbbbbbbbbbbb`,
        '',
      ].join('\n'),
    );
  });

  it('passes --to and --limit on, and says when nothing arrived for that address', async () => {
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, sinkList([])));
    const result = await runFlotilla(['mail', '--to', 'Bob@Example.com', '--limit', '5'], { cwd: admin.dir });
    expect(result).toEqual({
      code: 0,
      stdout: 'no mail to Bob@Example.com in the SMTP sink at 127.0.0.1:2525 yet\n',
      stderr: '',
    });
    expect(admin.requests[0]?.url).toBe('/v1/mail?limit=5&to=Bob%40Example.com');
  });

  it('shows one message with its headers, its Bcc recipients, its text and where its file is', async () => {
    const one = message('cccccccccccc', {
      cc: ['bob@example.com'],
      envelopeTo: ['alice@example.com', 'bob@example.com', 'audit@example.com'],
      receivedCount: 3,
      size: 2048,
      textTruncated: true,
    });
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, one));
    const result = await runFlotilla(['mail', 'cccccccccccc'], { cwd: admin.dir });
    expect(result.code).toBe(0);
    expect(admin.requests[0]?.url).toBe('/v1/mail/cccccccccccc');
    const file = join('.flotilla', 'mail', 'cccccccccccc.eml');
    expect(result.stdout).toBe(
      [
        'From:       "Flotilla Shop" <shop@example.com>',
        'To:         alice@example.com',
        'Cc:         bob@example.com',
        'Bcc:        audit@example.com',
        'Subject:    Your order',
        'Message-ID: <cccccccccccc@shop.example.com>',
        `Received:   ${localTime(one.receivedAt)} (3 times)`,
        'Size:       2.0 KiB',
        'Id:         cccccccccccc',
        `File:       ${file}`,
        '',
        'Your order o-1 has shipped.',
        '',
        `(text cut at 28 characters; the whole message is in ${file})`,
        '',
      ].join('\n'),
    );
  });

  it('prints what the admin API returns with --json', async () => {
    const list = sinkList([message('aaaaaaaaaaaa')]);
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, list));
    const result = await runFlotilla(['mail', '--json'], { cwd: admin.dir });
    expect(JSON.parse(result.stdout)).toEqual(list);
  });

  it('says where mail goes when a relay is configured', async () => {
    const list: MailList = {
      mode: 'relay',
      address: 'smtp.example.com:587',
      messages: [],
      message: 'Mail goes to the SMTP relay smtp.example.com:587 (infrastructure.smtp.url), which keeps it.',
    };
    admin = await startFakeAdmin((_, res) => sendJson(res, 200, list));
    const result = await runFlotilla(['mail'], { cwd: admin.dir });
    expect(result).toEqual({ code: 0, stdout: `${list.message}\n`, stderr: '' });
  });

  it("prints the API's message for an unknown id, exit 1", async () => {
    admin = await startFakeAdmin((_, res) =>
      sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'No message "nope" in the SMTP sink.' } }),
    );
    const result = await runFlotilla(['mail', 'nope'], { cwd: admin.dir });
    expect(result).toEqual({ code: 1, stdout: '', stderr: 'error: No message "nope" in the SMTP sink.\n' });
  });

  it('says the system is not running and exits 1 when there is no state file', async () => {
    admin = await startFakeAdmin(() => {});
    rmSync(join(admin.dir, '.flotilla', 'state.json'));
    const result = await runFlotilla(['mail'], { cwd: admin.dir });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: not running (no .flotilla/state.json); start it with: flotilla up\n',
    });
  });

  it.each([
    [
      'a --limit that is not a number',
      ['--limit', 'all'],
      /^error: --limit must be a whole number from 1 to 1000, got "all"/,
    ],
    ['a second id', ['aaaaaaaaaaaa', 'bbbbbbbbbbbb'], /^error: unexpected argument "bbbbbbbbbbbb"/],
  ])('rejects %s, exit 2', async (_, args, error) => {
    const result = await runFlotilla(['mail', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(error);
    expect(result.stderr).toContain('Usage: flotilla mail [id] [flags]');
  });

  it('explains itself with --help', async () => {
    const result = await runFlotilla(['mail', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: flotilla mail [id] [flags]');
    expect(result.stdout).toContain('--to <address>');
    expect(result.stdout).toContain('FLOTILLA_SMTP_URL');
    expect(result.stdout).toContain('flotilla mail --to alice@example.com');
  });
});
