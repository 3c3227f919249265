/**
 * Turns a byte stream into lines. A partial line waits for its newline; a line longer than
 * `maxLineBytes` is emitted in pieces of at most that size, cut on a UTF-8 character boundary, so
 * memory stays bounded whatever a process writes and no byte is lost.
 */
export class LineSplitter {
  readonly #maxLineBytes: number;
  readonly #onLine: (line: string) => void;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(maxLineBytes: number, onLine: (line: string) => void) {
    this.#maxLineBytes = maxLineBytes;
    this.#onLine = onLine;
  }

  /** Feeds a chunk; every line it completes is emitted at once. */
  push(chunk: Buffer): void {
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
      this.#append(chunk.subarray(start, newline));
      this.#emit(this.#take());
      start = newline + 1;
    }
    if (start < chunk.length) this.#append(chunk.subarray(start));
  }

  /** Emits what is left as a last line, if anything. */
  end(): void {
    if (this.#pendingBytes > 0) this.#emit(this.#take());
  }

  #append(part: Buffer): void {
    this.#pending.push(part);
    this.#pendingBytes += part.length;
    if (this.#pendingBytes <= this.#maxLineBytes) return;
    let rest = this.#take();
    while (rest.length > this.#maxLineBytes) {
      const cut = characterBoundary(rest, this.#maxLineBytes);
      this.#onLine(rest.toString('utf8', 0, cut));
      rest = rest.subarray(cut);
    }
    this.#pending = [rest];
    this.#pendingBytes = rest.length;
  }

  #take(): Buffer {
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    return all;
  }

  /** A carriage return before the newline belongs to the line ending, not to the line. */
  #emit(bytes: Buffer): void {
    const end = bytes.at(-1) === 0x0d ? bytes.length - 1 : bytes.length;
    this.#onLine(bytes.toString('utf8', 0, end));
  }
}

/** The largest cut at or below `limit` that does not split a UTF-8 sequence (continuation bytes are 10xxxxxx). */
function characterBoundary(bytes: Buffer, limit: number): number {
  let cut = limit;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return cut === 0 ? limit : cut;
}
