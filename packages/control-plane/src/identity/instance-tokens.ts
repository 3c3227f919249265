import { randomToken, tokenDigest } from '../state/index.ts';
import type { InstanceTokens } from '../supervisor/index.ts';
import type { TokenHolder } from '../types.ts';

/**
 * The instance tokens of the running processes: each process gets its own when it starts, and it
 * stops working when the process exits. Tokens are kept by their SHA-256 only, so a lookup compares
 * digests of a secret the caller sent, never the secret itself, and takes no time that depends on
 * how much of a guess was right. A process adopted from an earlier control plane is known by the
 * digest that run recorded in `pids.json`: it goes on using the token it was started with.
 */
export class InstanceTokenRegistry implements InstanceTokens {
  readonly #holders = new Map<string, TokenHolder>();
  readonly #revoked = new Set<(holder: TokenHolder) => void>();

  /** A new token for a process about to start as `holder`. */
  issue(holder: TokenHolder): string {
    const token = randomToken();
    this.adopt(tokenDigest(token), holder);
    return token;
  }

  /** Admits the token whose SHA-256 is `digest` as `holder`: that of a process an earlier run started. */
  adopt(digest: string, holder: TokenHolder): void {
    this.#holders.set(digest, { id: holder.id, service: holder.service, version: holder.version });
  }

  /** The process that held `token` has exited: the token admits no one any more. */
  revoke(token: string): void {
    this.revokeDigest(tokenDigest(token));
  }

  /** As revoke(), for the token whose SHA-256 is `digest`. */
  revokeDigest(digest: string): void {
    const holder = this.#holders.get(digest);
    if (holder === undefined) return;
    this.#holders.delete(digest);
    for (const listener of this.#revoked) listener(holder);
  }

  /** Who holds `token`, or undefined for a token no running process holds. */
  holder(token: string): TokenHolder | undefined {
    return this.#holders.get(tokenDigest(token));
  }

  /** Instance ids of the processes that hold a token now: those that run. */
  liveIds(): Set<string> {
    return new Set([...this.#holders.values()].map((holder) => holder.id));
  }

  /** Calls `listener` with the holder of every token revoked; returns the unsubscribe function. */
  onRevoke(listener: (holder: TokenHolder) => void): () => void {
    this.#revoked.add(listener);
    return () => {
      this.#revoked.delete(listener);
    };
  }
}
