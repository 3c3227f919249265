import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAIL_DEFAULTS } from '../defaults.ts';
import { MailError, type MailLimits, type MailSink, startMail, startMailSink } from './index.ts';

let stateDir: string;
let logLines: string[];
const sinks: MailSink[] = [];

/** A pino logger at debug level whose lines land in `logLines`, so tests can read what was logged. */
const log = () => pino({ level: 'debug' }, { write: (line: string) => logLines.push(line) });

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'flotilla-mail-'));
  logLines = [];
});

afterEach(async () => {
  for (const sink of sinks.splice(0)) await sink.close();
  await rm(stateDir, { recursive: true, force: true });
});

async function sink(limits: Partial<MailLimits> = {}): Promise<MailSink> {
  const started = await startMailSink({ stateDir, host: '127.0.0.1', port: 0, log: log(), limits });
  sinks.push(started);
  return started;
}

/** Sends one message over real SMTP, the way a service would with FLOTILLA_SMTP_URL. */
function send(url: string, message: Record<string, unknown> = {}) {
  return createTransport(url).sendMail({
    from: '"Flotilla Shop" <shop@example.com>',
    to: 'alice@example.com',
    subject: 'Your order',
    text: 'Your order o-1 has shipped.',
    ...message,
  });
}

/** What the server answered, from nodemailer's error. */
function failureOf(error: unknown): { responseCode?: number; response?: string } {
  return error as { responseCode?: number; response?: string };
}

const passwordOf = (url: string) => decodeURIComponent(new URL(url).password);
const mailDir = () => join(stateDir, 'mail');

describe('the SMTP sink', () => {
  it('takes a message over SMTP, keeps it as a 0600 file and an index line, and lists it', async () => {
    const mail = await sink();
    expect(mail.url).toMatch(/^smtp:\/\/flotilla:[\w%-]{40,}@127\.0\.0\.1:\d+$/);
    expect(mail.address).toBe(`127.0.0.1:${mail.port}`);
    const info = await send(mail.url, {
      cc: 'Bob <bob@example.com>',
      bcc: 'audit@example.com',
      messageId: '<o-1@shop.example.com>',
    });
    expect(info.response).toMatch(/^250 OK: stored as [0-9a-f]{12}$/);

    const [listed, ...others] = mail.store.list({ limit: 10 });
    expect(others).toEqual([]);
    expect(listed).toMatchObject({
      messageId: '<o-1@shop.example.com>',
      from: '"Flotilla Shop" <shop@example.com>',
      to: ['alice@example.com'],
      cc: ['bob@example.com'],
      envelopeTo: ['alice@example.com', 'bob@example.com', 'audit@example.com'],
      subject: 'Your order',
      receivedCount: 1,
    });
    const id = listed!.id;
    expect(mail.store.get(id)).toMatchObject({ text: 'Your order o-1 has shipped.\n', textTruncated: false });
    expect(Date.now() - Date.parse(listed!.receivedAt)).toBeLessThan(10_000);

    const raw = join(mailDir(), `${id}.eml`);
    expect((await stat(raw)).mode & 0o777).toBe(0o600);
    expect(await readFile(raw, 'utf8')).toContain('Subject: Your order');
    expect(listed!.size).toBe((await stat(raw)).size);
    expect((await stat(mailDir())).mode & 0o777).toBe(0o700);
    const index = (await readFile(join(mailDir(), 'index.jsonl'), 'utf8')).trim().split('\n');
    expect(index.map((line) => JSON.parse(line).id)).toEqual([id]);
    expect((await stat(join(mailDir(), 'index.jsonl'))).mode & 0o777).toBe(0o600);
  });

  it.each(['PLAIN', 'LOGIN'])('accepts the %s login', async (method) => {
    const mail = await sink();
    const { port } = mail;
    const transport = createTransport({
      host: '127.0.0.1',
      port,
      secure: false,
      auth: { user: 'flotilla', pass: passwordOf(mail.url) },
      authMethod: method,
    });
    expect(
      (await transport.sendMail({ from: 'a@example.com', to: 'b@example.com', text: 'hi' })).response,
    ).toMatch(/^250 /);
  });

  it('refuses a wrong password with 535, saying which credentials to use, and keeps nothing', async () => {
    const mail = await sink();
    const url = new URL(mail.url);
    url.password = 'guessed';
    const failure = failureOf(await send(url.href).catch((e: unknown) => e));
    expect(failure.responseCode).toBe(535);
    expect(failure.response).toContain('use the user and password of FLOTILLA_SMTP_URL');
    url.username = 'root';
    url.password = encodeURIComponent(passwordOf(mail.url));
    expect(failureOf(await send(url.href).catch((e: unknown) => e)).responseCode).toBe(535);
    expect(mail.store.list({ limit: 10 })).toEqual([]);
  });

  it('refuses mail from a client that did not log in with 530', async () => {
    const mail = await sink();
    const failure = failureOf(await send(`smtp://127.0.0.1:${mail.port}`).catch((e: unknown) => e));
    expect(failure.responseCode).toBe(530);
    expect(failure.response).toContain('authentication required');
  });

  it('refuses a message over 10 MiB with 552 and keeps nothing', async () => {
    const mail = await sink();
    const text = 'x'.repeat(MAIL_DEFAULTS.limits.messageBytes + 64 * 1024);
    const failure = failureOf(await send(mail.url, { text }).catch((e: unknown) => e));
    expect(failure.responseCode).toBe(552);
    expect(failure.response).toContain('exceeds fixed maximum message size 10485760');
    expect(mail.store.list({ limit: 10 })).toEqual([]);
    expect((await readdir(mailDir())).filter((f) => f.endsWith('.eml'))).toEqual([]);
  });

  it('refuses recipients past the limit with 452 and delivers to the others', async () => {
    const mail = await sink({ maxRecipients: 2 });
    const info = await send(mail.url, { to: ['a@example.com', 'b@example.com', 'c@example.com'] });
    expect(info.accepted).toEqual(['a@example.com', 'b@example.com']);
    expect(info.rejected).toEqual(['c@example.com']);
    expect(info.rejectedErrors?.[0]).toMatchObject({ responseCode: 452 });
    expect(mail.store.list({ limit: 10 })[0]?.envelopeTo).toEqual(['a@example.com', 'b@example.com']);
  });

  it('accepts a message with a Message-ID it holds but stores it once, counting it, even when both race', async () => {
    const mail = await sink();
    const first = await send(mail.url, { messageId: '<welcome-42@users.example.com>' });
    const again = await send(mail.url, { messageId: '<welcome-42@users.example.com>', subject: 'resent' });
    expect(first.response).toMatch(/^250 /);
    expect(again.response).toMatch(
      /^250 OK: already stored as [0-9a-f]{12} \(same Message-ID\), not stored again$/,
    );
    await Promise.all([
      send(mail.url, { messageId: '<reset-7@users.example.com>' }),
      send(mail.url, { messageId: '<reset-7@users.example.com>' }),
    ]);
    const listed = mail.store.list({ limit: 10 });
    expect(listed.map((m) => [m.messageId, m.subject, m.receivedCount])).toEqual([
      ['<reset-7@users.example.com>', 'Your order', 2],
      ['<welcome-42@users.example.com>', 'Your order', 2],
    ]);
    expect((await readdir(mailDir())).filter((f) => f.endsWith('.eml'))).toHaveLength(2);
  });

  it('keeps its mail and the counts across a restart from the same state dir, with a new password', async () => {
    const before = await sink();
    await send(before.url, { messageId: '<a@shop>', subject: 'first' });
    await send(before.url, { messageId: '<a@shop>', subject: 'first' });
    await send(before.url, { messageId: '<b@shop>', subject: 'second' });
    await before.close();
    sinks.splice(sinks.indexOf(before), 1);

    const after = await sink();
    expect(after.store.list({ limit: 10 }).map((m) => [m.subject, m.receivedCount])).toEqual([
      ['second', 1],
      ['first', 2],
    ]);
    expect(passwordOf(after.url)).not.toBe(passwordOf(before.url));
    const stale = new URL(after.url);
    stale.password = encodeURIComponent(passwordOf(before.url));
    expect(failureOf(await send(stale.href).catch((e: unknown) => e)).responseCode).toBe(535);
    expect((await send(after.url, { messageId: '<a@shop>' })).response).toContain('not stored again');
    expect(after.store.list({ limit: 10 }).find((m) => m.messageId === '<a@shop>')?.receivedCount).toBe(3);
  });

  it('keeps the newest messages only, deleting the files of older ones, also after a restart', async () => {
    const mail = await sink({ maxMessages: 3 });
    for (let n = 1; n <= 5; n++) await send(mail.url, { subject: `n${n}` });
    const subjects = (m: MailSink) => m.store.list({ limit: 10 }).map((e) => e.subject);
    expect(subjects(mail)).toEqual(['n5', 'n4', 'n3']);
    const files = async () => (await readdir(mailDir())).filter((f) => f.endsWith('.eml')).sort();
    expect(await files()).toEqual(
      mail.store
        .list({ limit: 10 })
        .map((e) => `${e.id}.eml`)
        .sort(),
    );
    await mail.close();
    sinks.splice(0);
    const after = await sink({ maxMessages: 3 });
    expect(subjects(after)).toEqual(['n5', 'n4', 'n3']);
    expect(await files()).toHaveLength(3);
  });

  it('keeps a bounded text, converted from HTML when there is no text part', async () => {
    const mail = await sink({ textChars: 20 });
    await send(mail.url, { text: undefined, html: '<p>Hello <b>Alice</b></p>', subject: 'html' });
    await send(mail.url, { text: 'a'.repeat(50), subject: 'long' });
    const [long, html] = mail.store.list({ limit: 10 }).map((m) => mail.store.get(m.id)!);
    expect(html).toMatchObject({ text: 'Hello Alice', textTruncated: false });
    expect(long).toMatchObject({ text: 'a'.repeat(20), textTruncated: true });
  });

  it('never writes its password to the log', async () => {
    const mail = await sink();
    const password = passwordOf(mail.url);
    await send(mail.url, { messageId: '<x@shop>' });
    await send(mail.url, { messageId: '<x@shop>' });
    const wrong = new URL(mail.url);
    wrong.password = 'wrong';
    await send(wrong.href).catch(() => {});
    const logged = logLines.join('');
    expect(logged).toContain('mail: stored a message');
    expect(logged).toContain('mail: refused an SMTP login');
    expect(logged).not.toContain(password);
    expect(logged).not.toContain(encodeURIComponent(password));
    expect(mail.address).not.toContain(password);
  });

  it('refuses to listen anywhere but loopback', async () => {
    const failure = await startMailSink({ stateDir, host: '0.0.0.0', port: 0, log: log() }).catch(
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(MailError);
    expect((failure as MailError).code).toBe('FLOTILLA_MAIL_HOST');
  });

  it('says which port is taken and where to choose another', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const failure = await startMailSink({ stateDir, host: '127.0.0.1', port, log: log() }).catch(
        (e: unknown) => e,
      );
      expect((failure as MailError).code).toBe('FLOTILLA_MAIL_PORT_IN_USE');
      expect((failure as MailError).message).toContain(`port ${port} on 127.0.0.1 is in use`);
      expect((failure as MailError).message).toContain('infrastructure.smtp.sinkPort');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('startMail', () => {
  it('starts the sink when no relay is configured and says where it listens', async () => {
    const progress: string[] = [];
    const mail = await startMail(
      { sinkPort: 0 },
      { stateDir, log: log(), progress: (m) => progress.push(m) },
    );
    try {
      expect(mail.mode).toBe('sink');
      expect(progress).toEqual([`mail: SMTP sink on ${mail.address} (flotilla mail lists what arrives)`]);
      await send(mail.smtpUrl, { subject: 'via startMail' });
      expect(mail.list({ limit: 1 })[0]?.subject).toBe('via startMail');
      expect(mail.list({ to: 'nobody@example.com', limit: 1 })).toEqual([]);
    } finally {
      await mail.close();
    }
  });

  it("listens where an earlier run's sink did, with its password, so the instances it adopts still send, and serves that run's mail", async () => {
    const before = await startMail({ sinkPort: 0 }, { stateDir, log: log() });
    await send(before.smtpUrl, { messageId: '<kept@shop>', subject: 'before the restart' });
    await before.close();

    const after = await startMail({ sinkPort: 0 }, { stateDir, log: log(), earlier: before.sink! });
    try {
      expect(after.smtpUrl).toBe(before.smtpUrl);
      expect(after.sink).toEqual(before.sink);
      await send(before.smtpUrl, { messageId: '<new@shop>', subject: 'after the restart' });
      expect(after.list({ limit: 10 }).map((m) => m.subject)).toEqual([
        'after the restart',
        'before the restart',
      ]);
    } finally {
      await after.close();
    }
  });

  it("takes a new port and password when the earlier run's port is taken", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const mail = await startMail(
        { sinkPort: 0 },
        { stateDir, log: log(), earlier: { port, password: 'old' } },
      );
      expect(mail.sink!.port).not.toBe(port);
      expect(mail.sink!.password).not.toBe('old');
      await mail.close();
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('hands instances the relay URL and starts nothing when a relay is configured', async () => {
    const url = 'smtps://shop:relay-secret@smtp.example.com:465';
    const mail = await startMail({ url, sinkPort: 0 }, { stateDir, log: log() });
    expect(mail).toMatchObject({ mode: 'relay', address: 'smtp.example.com:465', smtpUrl: url });
    expect(mail.list({ limit: 10 })).toEqual([]);
    expect(existsSync(mailDir())).toBe(false);
    await mail.close();
  });
});
