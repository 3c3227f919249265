import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import type { MailMessage } from '../types.ts';

/**
 * `index.jsonl` of the mail directory: one MailMessage per line, appended as messages arrive. A
 * later line with the same id replaces the earlier one (a repeated Message-ID raises its
 * `receivedCount` that way) but keeps its place, so the file's order is the order of arrival.
 * Appending keeps a busy sink from rewriting the whole index per message; `rewrite` compacts it.
 */
export class MailIndexFile {
  readonly path: string;
  /** Lines in the file, so the store can tell when compacting pays. */
  lines = 0;

  constructor(path: string) {
    this.path = path;
  }

  /**
   * The entries of the file in arrival order, the last line of each id winning. A line that does
   * not parse (the torn tail of a write cut short by a crash) is skipped.
   */
  async read(): Promise<MailMessage[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const entries = new Map<string, MailMessage>();
    for (const line of text.split('\n')) {
      const entry = parseLine(line);
      if (entry) entries.set(entry.id, entry);
    }
    return [...entries.values()];
  }

  /** Appends one entry. */
  async append(entry: MailMessage): Promise<void> {
    await appendFile(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    this.lines++;
  }

  /** Replaces the file with exactly `entries`, atomically (temp file and rename). */
  async rewrite(entries: readonly MailMessage[]): Promise<void> {
    const temp = `${this.path}.${process.pid}.tmp`;
    await writeFile(temp, entries.map((e) => `${JSON.stringify(e)}\n`).join(''), { mode: 0o600 });
    await rename(temp, this.path);
    this.lines = entries.length;
  }
}

function parseLine(line: string): MailMessage | undefined {
  if (line.trim() === '') return undefined;
  try {
    const value = JSON.parse(line) as Partial<MailMessage>;
    const valid =
      typeof value.id === 'string' &&
      /^[0-9a-f]+$/.test(value.id) &&
      typeof value.receivedAt === 'string' &&
      typeof value.receivedCount === 'number' &&
      Array.isArray(value.to) &&
      Array.isArray(value.cc) &&
      Array.isArray(value.envelopeTo);
    return valid ? (value as MailMessage) : undefined;
  } catch {
    return undefined;
  }
}
