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
}

/**
 * The roots the trust bundle must keep, in their order. The issuing (last) root always stays. An
 * older root stays while some live instance holds an unexpired certificate from it, since its
 * peers must go on accepting that certificate until it is renewed; once none does (every live
 * instance renewed from the newest root, stopped, or let its certificate expire), it is dropped.
 * An instance that holds no certificate at all depends on no root. Pure.
 */
export function rootsToTrust(input: TrustInput): string[] {
  const { roots, issued, live, nowMs } = input;
  const newest = roots.at(-1);
  const inUse = new Set<string>();
  for (const [instance, record] of issued) {
    if (live.has(instance) && record.notAfterMs > nowMs) inUse.add(record.root);
  }
  return roots.filter((root) => root === newest || inUse.has(root));
}
