import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { LOG_DEFAULTS } from '../defaults.ts';
import type { LogLine } from '../types.ts';
import { LineSplitter } from './line-splitter.ts';
import { RingBuffer } from './ring-buffer.ts';

/** The instance a captured stream belongs to. */
export interface LogSource {
  instance: string;
  service: string;
  version: string;
}

/** Selects lines by workload (a line's `service`) and instance; an empty filter selects every line. */
export interface LogFilter {
  workload?: string;
  instance?: string;
}

/** Where the log store keeps its files. */
export interface LogStoreOptions {
  /** Files go to `<stateDir>/logs/<workload>/<instance>.log`. */
  stateDir: string;
}

interface Entry {
  /** Arrival order across all instances, so lines of several instances merge in the order they came. */
  seq: number;
  line: LogLine;
}

interface InstanceLog {
  ring: RingBuffer<Entry>;
  file: WriteStream | null;
  /** Streams still open into the file; it is closed when the last one ends. */
  captures: number;
}

interface Subscription {
  filter: LogFilter;
  listener: (line: LogLine) => void;
}

/**
 * Keeps what instances write: every line appended to the instance's file, the last lines of each
 * instance in memory for `tail`, and each new line pushed to followers.
 */
export class LogStore {
  readonly #dir: string;
  readonly #instances = new Map<string, InstanceLog>();
  readonly #subscriptions = new Set<Subscription>();
  /** Files ended but maybe not yet flushed, so that close() can wait for them too. */
  readonly #flushing = new Set<Promise<void>>();
  #seq = 0;

  constructor(options: LogStoreOptions) {
    this.#dir = join(options.stateDir, 'logs');
  }

  /** Reads `readable` line by line into the store until it closes. */
  capture(source: LogSource, stream: LogLine['stream'], readable: Readable): void {
    const log = this.#open(source);
    log.captures++;
    const splitter = new LineSplitter(LOG_DEFAULTS.maxLineBytes, (line) =>
      this.#append(log, { ...source, stream, at: new Date().toISOString(), line }),
    );
    readable.on('data', (chunk: Buffer) => splitter.push(chunk));
    readable.once('close', () => {
      splitter.end();
      log.captures--;
      if (log.captures === 0) this.#closeFile(log);
    });
  }

  /** The last `n` lines matching `filter`, oldest first. */
  tail(filter: LogFilter, n: number): LogLine[] {
    if (n <= 0) return [];
    const entries: Entry[] = [];
    for (const [instance, log] of this.#instances) {
      if (filter.instance !== undefined && filter.instance !== instance) continue;
      for (const entry of log.ring.toArray()) {
        if (matches(filter, entry.line)) entries.push(entry);
      }
    }
    entries.sort((a, b) => a.seq - b.seq);
    return entries.slice(-n).map((entry) => entry.line);
  }

  /** Calls `listener` with every new line matching `filter` until the returned function is called. */
  subscribe(filter: LogFilter, listener: (line: LogLine) => void): () => void {
    const subscription = { filter, listener };
    this.#subscriptions.add(subscription);
    return () => {
      this.#subscriptions.delete(subscription);
    };
  }

  /** Flushes and closes every file. */
  async close(): Promise<void> {
    for (const log of this.#instances.values()) this.#closeFile(log);
    await Promise.all(this.#flushing);
  }

  #closeFile(log: InstanceLog): void {
    const file = log.file;
    if (file === null) return;
    log.file = null;
    const flushed = new Promise<void>((resolve) => {
      file.once('close', resolve);
      file.end();
    });
    this.#flushing.add(flushed);
    void flushed.then(() => this.#flushing.delete(flushed));
  }

  #open(source: LogSource): InstanceLog {
    let log = this.#instances.get(source.instance);
    if (log === undefined) {
      log = { ring: new RingBuffer(LOG_DEFAULTS.ringLines), file: null, captures: 0 };
      this.#instances.set(source.instance, log);
    }
    if (log.file === null) {
      const dir = join(this.#dir, source.service);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const file = createWriteStream(join(dir, `${source.instance}.log`), { flags: 'a', mode: 0o600 });
      const owner = log;
      // A full disk or a removed directory must cost the file, never the control plane or the
      // in-memory tail.
      file.on('error', () => {
        if (owner.file === file) owner.file = null;
      });
      log.file = file;
    }
    return log;
  }

  #append(log: InstanceLog, line: LogLine): void {
    log.ring.push({ seq: this.#seq++, line });
    log.file?.write(`${line.line}\n`);
    for (const subscription of this.#subscriptions) {
      if (!matches(subscription.filter, line)) continue;
      try {
        subscription.listener(line);
      } catch {
        // A follower that fails (a closed HTTP response, say) must not stop the capture of the
        // instance; it loses its subscription instead.
        this.#subscriptions.delete(subscription);
      }
    }
  }
}

function matches(filter: LogFilter, line: LogLine): boolean {
  return (
    (filter.workload === undefined || filter.workload === line.service) &&
    (filter.instance === undefined || filter.instance === line.instance)
  );
}
