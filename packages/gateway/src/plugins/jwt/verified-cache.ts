/** What a verified token grants, and the window in which that holds. */
export interface VerifiedToken {
  subject: string;
  roles: string[];
  /** Accept from this time on (nbf minus the clock skew), in ms. */
  validFromMs: number;
  /** Accept until this time (the earlier of exp plus the clock skew and the cache's max age), in ms. */
  validUntilMs: number;
}

/**
 * Tokens whose signature and claims were verified, keyed by the whole token string: a token that
 * differs by one byte (tampered, re-signed) is a different key and is verified from scratch.
 * Bounded: the least recently used entry goes when it is full. Failures are never cached.
 */
export class VerifiedCache {
  readonly #entries = new Map<string, VerifiedToken>();
  readonly #maxEntries: number;
  readonly #maxTokenLength: number;

  constructor(maxEntries: number, maxTokenLength: number) {
    this.#maxEntries = maxEntries;
    this.#maxTokenLength = maxTokenLength;
  }

  /** The verified result for `token` if it holds at `nowMs`. */
  get(token: string, nowMs: number): VerifiedToken | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    if (nowMs >= entry.validUntilMs) {
      this.#entries.delete(token);
      return undefined;
    }
    if (nowMs < entry.validFromMs) return undefined;
    // Move to the back: Map keeps insertion order, so the front is the least recently used.
    this.#entries.delete(token);
    this.#entries.set(token, entry);
    return entry;
  }

  /** Remembers a verified token. */
  set(token: string, entry: VerifiedToken): void {
    if (token.length > this.#maxTokenLength) return;
    this.#entries.delete(token);
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(token, entry);
  }

  /** Forgets every token: the keys that verified them changed. */
  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
