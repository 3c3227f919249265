/** Which root issued the certificate an instance holds now, and until when that certificate is valid. */
export interface IssuedRecord {
  /** Fingerprint of the issuing root. */
  root: string;
  notAfterMs: number;
}

/** What the rotation decision looks at. */
export interface TrustInput {
  /** Fingerprints of the roots in the trust bundle, oldest first; the last is the one that issues. */
  roots: readonly string[];
  /** The root of each instance's current certificate, by instance id. */
  issued: ReadonlyMap<string, IssuedRecord>;
  /** Instance ids whose process runs now. */
  live: ReadonlySet<string>;
  nowMs: number;
  /**
   * Older roots stay at least until then: the last certificate issued reaches its holder, which
   * installs it, a moment after it is signed, and until then the holder still presents its old one.
   */
  holdUntilMs?: number;
}

/**
 * The roots the trust bundle must keep, in their order. The issuing (last) root always stays. An
 * older root stays while some live instance holds an unexpired certificate from it, since its
 * peers must go on accepting that certificate until it is renewed; once none does (every live
 * instance renewed from the newest root, stopped, or let its certificate expire) and the hold
 * after the last issue is over, it is dropped.
 * An instance that holds no certificate at all depends on no root. Pure.
 */
export function rootsToTrust(input: TrustInput): string[] {
  const { roots, issued, live, nowMs, holdUntilMs } = input;
  if (holdUntilMs !== undefined && nowMs < holdUntilMs) return [...roots];
  const newest = roots.at(-1);
  const inUse = new Set<string>();
  for (const [instance, record] of issued) {
    if (live.has(instance) && record.notAfterMs > nowMs) inUse.add(record.root);
  }
  return roots.filter((root) => root === newest || inUse.has(root));
}
