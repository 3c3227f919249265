import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MailStore } from './mail-store.ts';
import type { ParsedMessage } from './parse-message.ts';

let dir: string;

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'flotilla-mail-store-')), 'mail');
});

afterEach(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

function message(subject: string, messageId: string | null = `<${subject}@test>`): ParsedMessage {
  return {
    messageId,
    from: 'shop@example.com',
    to: ['alice@example.com'],
    cc: [],
    envelopeTo: ['alice@example.com'],
    subject,
    size: 3,
    text: subject,
    textTruncated: false,
  };
}

describe('MailStore', () => {
  it('stores every message without a Message-ID, since there is nothing to tell a resend by', async () => {
    const store = await MailStore.open({ dir, maxMessages: 10 });
    await store.add(Buffer.from('one'), message('same', null));
    await store.add(Buffer.from('one'), message('same', null));
    expect(store.list({ limit: 10 }).map((m) => m.receivedCount)).toEqual([1, 1]);
  });

  it('reads back an index whose last line a crash cut short, and rewrites it whole', async () => {
    const first = await MailStore.open({ dir, maxMessages: 10 });
    const { entry } = await first.add(Buffer.from('raw'), message('kept'));
    await first.close();
    const index = join(dir, 'index.jsonl');
    await appendFile(index, '{"id":"abc","messageId":"<torn');

    const second = await MailStore.open({ dir, maxMessages: 10 });
    expect(second.list({ limit: 10 }).map((m) => m.id)).toEqual([entry.id]);
    expect(await readFile(index, 'utf8')).toBe(`${JSON.stringify(entry)}\n`);
    await second.add(Buffer.from('raw'), message('next'));
    expect(
      (await MailStore.open({ dir, maxMessages: 10 })).list({ limit: 10 }).map((m) => m.subject),
    ).toEqual(['next', 'kept']);
  });

  it('removes files the index does not list, as a crash between file and index line leaves them', async () => {
    const first = await MailStore.open({ dir, maxMessages: 10 });
    const { entry } = await first.add(Buffer.from('raw'), message('kept'));
    await writeFile(join(dir, 'feedfacecafe.eml'), 'never acknowledged');
    await writeFile(join(dir, 'index.jsonl.123.tmp'), 'half a compaction');

    await MailStore.open({ dir, maxMessages: 10 });
    expect((await readdir(dir)).sort()).toEqual([`${entry.id}.eml`, 'index.jsonl']);
  });

  it('compacts its index once it holds twice as many lines as messages kept', async () => {
    const store = await MailStore.open({ dir, maxMessages: 2 });
    for (const subject of ['a', 'b', 'c', 'd']) await store.add(Buffer.from(subject), message(subject));
    const lines = async () => (await readFile(join(dir, 'index.jsonl'), 'utf8')).trim().split('\n').length;
    expect(await lines()).toBe(4);
    await store.add(Buffer.from('e'), message('e'));
    expect(await lines()).toBe(2);
    expect(store.list({ limit: 10 }).map((m) => m.subject)).toEqual(['e', 'd']);
  });

  it('lists messages newest first with their text, and gets one by id', async () => {
    const store = await MailStore.open({ dir, maxMessages: 10 });
    await store.add(Buffer.from('1'), message('older'));
    const { entry } = await store.add(Buffer.from('2'), message('newer'));
    expect(store.list({ limit: 1 })).toEqual([
      {
        id: entry.id,
        messageId: '<newer@test>',
        from: 'shop@example.com',
        to: ['alice@example.com'],
        cc: [],
        envelopeTo: ['alice@example.com'],
        subject: 'newer',
        size: 3,
        receivedAt: entry.receivedAt,
        receivedCount: 1,
        text: 'newer',
        textTruncated: false,
      },
    ]);
    expect(store.get(entry.id)).toEqual(entry);
    expect(store.get('000000000000')).toBeUndefined();
  });
});
