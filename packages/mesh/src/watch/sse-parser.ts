/** One server-sent event. */
export interface SseEvent {
  /** The `event:` field; `message` when absent. */
  type: string;
  /** The `id:` field; undefined when absent. */
  id: string | undefined;
  /** The `data:` lines joined with newlines. */
  data: string;
}

/**
 * An incremental parser of the `text/event-stream` format (WHATWG HTML, server-sent events). Text
 * arrives in chunks cut anywhere, so a partial line waits for the next chunk. Comment lines (the
 * control plane's `: ping` heartbeats) and the `retry` field are ignored: reconnect timing is the
 * client's own.
 */
export class SseParser {
  readonly #onEvent: (event: SseEvent) => void;
  #pending = '';
  /** A chunk ended in CR: a LF opening the next chunk belongs to the same line end. */
  #skipLf = false;
  #type = '';
  #id: string | undefined;
  #data: string[] = [];

  constructor(onEvent: (event: SseEvent) => void) {
    this.#onEvent = onEvent;
  }

  /** Feeds the next decoded chunk of the stream. */
  feed(chunk: string): void {
    let text = this.#pending + chunk;
    if (this.#skipLf && text.startsWith('\n')) text = text.slice(1);
    this.#skipLf = false;
    let start = 0;
    for (;;) {
      const lf = text.indexOf('\n', start);
      const cr = text.indexOf('\r', start);
      const end = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr;
      if (end === -1) break;
      this.#line(text.slice(start, end));
      start = end + 1;
      if (end === cr) {
        if (start === text.length) this.#skipLf = true;
        else if (text[start] === '\n') start++;
      }
    }
    this.#pending = text.slice(start);
  }

  #line(line: string): void {
    if (line === '') {
      this.#dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.#data.push(value);
    else if (field === 'event') this.#type = value;
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
  }

  #dispatch(): void {
    if (this.#data.length > 0) {
      this.#onEvent({ type: this.#type || 'message', id: this.#id, data: this.#data.join('\n') });
    }
    this.#type = '';
    this.#data = [];
  }
}
