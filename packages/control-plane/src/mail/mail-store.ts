import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MailQuery } from '../api/index.ts';
import type { MailMessage } from '../types.ts';
import { MailIndexFile } from './mail-index-file.ts';
import type { ParsedMessage } from './parse-message.ts';

/** Where the store keeps its files and how many messages it keeps. */
export interface MailStoreOptions {
  /** `.flotilla/mail`: `<id>.eml` per message and `index.jsonl`. */
  dir: string;
  maxMessages: number;
}

/** What became of a message handed to the store. */
export interface StoreResult {
  entry: MailMessage;
  /** True when its Message-ID was stored already: only `receivedCount` went up. */
  duplicate: boolean;
}

/**
 * The sink's messages: raw files (0600) and an index, read back when the control plane starts so
 * mail outlives a restart. It is an idempotent receiver: a message whose Message-ID it already
 * holds is not stored again, its entry's `receivedCount` goes up instead, so a sender that resends
 * after a crash shows one email. Only the newest `maxMessages` are kept. Writes are serialised, so
 * that two connections delivering the same Message-ID at once still make one entry.
 */
export class MailStore {
  readonly dir: string;
  readonly #maxMessages: number;
  readonly #index: MailIndexFile;
  /** In arrival order: the first entry is the oldest. */
  readonly #entries = new Map<string, MailMessage>();
  readonly #idsByMessageId = new Map<string, string>();
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(options: MailStoreOptions) {
    this.dir = options.dir;
    this.#maxMessages = options.maxMessages;
    this.#index = new MailIndexFile(join(options.dir, 'index.jsonl'));
  }

  /**
   * Opens the store in `dir` (created 0700), reading back what an earlier run kept. The index is
   * compacted on the way, and files it does not list (a message whose index line a crash cut off,
   * and so was never acknowledged to its sender) are removed.
   */
  static async open(options: MailStoreOptions): Promise<MailStore> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    await chmod(options.dir, 0o700);
    const store = new MailStore(options);
    for (const entry of (await store.#index.read()).slice(-store.#maxMessages)) store.#remember(entry);
    await store.#index.rewrite([...store.#entries.values()]);
    await store.#removeUnlisted();
    return store;
  }

  /** Stores a received message, or counts it again when its Message-ID is already stored. */
  add(raw: Buffer, message: ParsedMessage, now: Date = new Date()): Promise<StoreResult> {
    const run = this.#queue.then(() => this.#add(raw, message, now));
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Messages matching `query`, newest first. */
  list(query: MailQuery): MailMessage[] {
    const to = query.to?.toLowerCase();
    const found: MailMessage[] = [];
    for (const entry of [...this.#entries.values()].reverse()) {
      if (found.length >= query.limit) break;
      if (to === undefined || recipients(entry).includes(to)) found.push({ ...entry });
    }
    return found;
  }

  /** One message with its text; undefined when the store does not hold it. */
  get(id: string): MailMessage | undefined {
    const entry = this.#entries.get(id);
    return entry && { ...entry };
  }

  /** Path of a message's raw file. */
  rawPath(id: string): string {
    return join(this.dir, `${id}.eml`);
  }

  /** Resolves once every write handed to the store has finished. */
  async close(): Promise<void> {
    await this.#queue;
  }

  async #add(raw: Buffer, message: ParsedMessage, now: Date): Promise<StoreResult> {
    const knownId = message.messageId === null ? undefined : this.#idsByMessageId.get(message.messageId);
    const known = knownId === undefined ? undefined : this.#entries.get(knownId);
    if (known) {
      const entry = { ...known, receivedCount: known.receivedCount + 1 };
      await this.#index.append(entry);
      this.#entries.set(entry.id, entry);
      return { entry, duplicate: true };
    }
    const entry: MailMessage = {
      id: this.#newId(),
      ...message,
      receivedAt: now.toISOString(),
      receivedCount: 1,
    };
    // The raw file first: an index line never points at a file that is not there.
    await writeFile(this.rawPath(entry.id), raw, { mode: 0o600, flag: 'wx' });
    await this.#index.append(entry);
    this.#remember(entry);
    await this.#prune();
    return { entry, duplicate: false };
  }

  #remember(entry: MailMessage): void {
    this.#entries.set(entry.id, entry);
    if (entry.messageId !== null) this.#idsByMessageId.set(entry.messageId, entry.id);
  }

  /** Deletes the oldest messages past the bound, and compacts the index once it is twice as long as needed. */
  async #prune(): Promise<void> {
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxMessages) break;
      this.#entries.delete(id);
      if (entry.messageId !== null && this.#idsByMessageId.get(entry.messageId) === id) {
        this.#idsByMessageId.delete(entry.messageId);
      }
      await rm(this.rawPath(id), { force: true });
    }
    // Lines of pruned messages stay in the index until it is compacted: reading it back keeps only
    // the newest `maxMessages`, so they never come back, and compacting is only about its length.
    if (this.#index.lines > 2 * this.#maxMessages) await this.#index.rewrite([...this.#entries.values()]);
  }

  async #removeUnlisted(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      const unlisted = name.endsWith('.eml') && !this.#entries.has(name.slice(0, -'.eml'.length));
      if (unlisted || name.endsWith('.tmp')) await rm(join(this.dir, name), { force: true });
    }
  }

  #newId(): string {
    let id: string;
    do id = randomBytes(6).toString('hex');
    while (this.#entries.has(id));
    return id;
  }
}

/** Every recipient of a message, lower-cased: To, Cc and the envelope (where Bcc recipients are). */
function recipients(entry: MailMessage): string[] {
  return [...entry.to, ...entry.cc, ...entry.envelopeTo].map((a) => a.toLowerCase());
}
