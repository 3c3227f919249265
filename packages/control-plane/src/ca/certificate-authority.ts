import type { WorkloadIdentity } from '@flotilla/spec';
import type { Logger } from 'pino';
import { CA_DEFAULTS } from '../defaults.ts';
import type { Clock } from '../supervisor/index.ts';
import type { CaRotation } from '../types.ts';
import { signLeaf } from './issue-certificate.ts';
import { readPublicKey } from './public-key.ts';
import { createRoot, type IssuingRoot } from './root.ts';
import { loadOrCreateRoot, saveRoot } from './root-store.ts';
import { type IssuedRecord, rootsToTrust } from './trusted-roots.ts';

/** Where the CA keeps its root and what it logs to. */
export interface CertificateAuthorityOptions {
  /** The CA's directory, `.flotilla/ca/`. */
  dir: string;
  /** The system's name, written into the roots' subject. */
  system: string;
  log: Logger;
  /** @default Date */
  clock?: Clock;
  /** How long older roots stay trusted after a certificate is issued. @default CA_DEFAULTS.oldRootHoldMs */
  oldRootHoldMs?: number;
}

/** What an instance asks a certificate for. */
export interface CertificateRequest {
  /** The instance id, to record which root its current certificate comes from. */
  instance: string;
  /** The instance's public key as SPKI PEM; the private key never leaves the instance. */
  publicKeyPem: string;
  identity: WorkloadIdentity;
  ttlMs: number;
}

/** A certificate as issued. */
export interface IssuedCertificate {
  /** PEM of the leaf certificate. */
  certificate: string;
  /**
   * PEM the instance presents in a TLS handshake: the leaf alone, since leaves are signed by a
   * root directly and every peer has the roots from the trust bundle.
   */
  chain: string;
  /** ISO time the certificate stops being valid. */
  notAfter: string;
}

/**
 * The mesh's certificate authority: one ECDSA P-256 root kept in `.flotilla/ca/`, which issues
 * short-lived leaf certificates naming a workload by its URI SAN
 * (`spiffe://flotilla.local/ns/<system>/sa/<service>/v/<version>`).
 *
 * The contract with instances: the trust bundle (`trustBundle()`, and `mesh.trustBundle` of the
 * routing table) lists the roots to trust, oldest first, and its LAST element is the newest root,
 * the one that issues now. An instance renews its certificate at half its lifetime, and at once
 * when the issuer of its certificate is not the last root of the bundle.
 *
 * A rotation makes a new root, which issues from then on, and puts it at the end of the bundle;
 * the old root stays in the bundle while some live instance still holds an unexpired certificate
 * from it. The CA records which root issued the current certificate of each instance, the
 * control plane tells it which instances are live (`retain`), and once no live instance depends on
 * the old root it is dropped. Every change of the bundle is announced to `onChange` listeners, so
 * the table is republished and instances learn of it.
 *
 * Only the issuing root and its key are kept on disk (`root.pem`, `root-key.pem`): a control plane
 * that starts stops every instance of the run before it, so no certificate of an older root
 * outlives a restart, and a restarted control plane still trusts what its root issued.
 */
export class CertificateAuthority {
  readonly #dir: string;
  readonly #system: string;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #listeners = new Set<(bundle: string[]) => void>();
  /** The root that issues; always the last of `#trusted`. */
  #issuing: IssuingRoot;
  /** Oldest first. */
  #trusted: { pem: string; fingerprint: string }[];
  readonly #issued = new Map<string, IssuedRecord>();
  #live = new Set<string>();
  readonly #holdMs: number;
  /** Older roots are not dropped before then (`#holdMs` after the last issue). */
  #holdUntilMs = 0;
  #holdTimer: NodeJS.Timeout | undefined;
  /** Rotations run one after the other. */
  #rotating: Promise<unknown> = Promise.resolve();

  private constructor(options: CertificateAuthorityOptions, root: IssuingRoot, clock: Clock) {
    this.#dir = options.dir;
    this.#system = options.system;
    this.#log = options.log;
    this.#clock = clock;
    this.#holdMs = options.oldRootHoldMs ?? CA_DEFAULTS.oldRootHoldMs;
    this.#issuing = root;
    this.#trusted = [{ pem: root.pem, fingerprint: root.fingerprint }];
  }

  /** The CA of `options.dir`: its root read back, or a new one created there (and logged). */
  static async open(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const clock = options.clock ?? Date;
    const root = await loadOrCreateRoot(options.dir, options.system, clock.now(), options.log);
    return new CertificateAuthority(options, root, clock);
  }

  /** PEM roots to trust, oldest first; the last is the one that issues now. */
  trustBundle(): string[] {
    return this.#trusted.map((root) => root.pem);
  }

  /**
   * Issues a certificate for the workload with the newest root, and records that root as the
   * issuer of the instance's current certificate. Rejects with a CaError for a public key it does
   * not issue for.
   */
  async issue(request: CertificateRequest): Promise<IssuedCertificate> {
    const publicKey = readPublicKey(request.publicKeyPem);
    let root: IssuingRoot;
    let leaf: Awaited<ReturnType<typeof signLeaf>>;
    // A rotation that finished while this one was signing makes the leaf come from a root on its
    // way out; it is signed again, so that what an instance gets is always from the newest root.
    do {
      root = this.#issuing;
      leaf = await signLeaf(root, publicKey, request.identity, request.ttlMs, this.#clock.now());
    } while (root !== this.#issuing);
    this.#issued.set(request.instance, { root: root.fingerprint, notAfterMs: leaf.notAfterMs });
    if (this.#trusted.length > 1 && this.#holdMs > 0) this.#hold();
    else if (this.#prune()) this.#emit();
    return { certificate: leaf.pem, chain: leaf.pem, notAfter: new Date(leaf.notAfterMs).toISOString() };
  }

  /**
   * Starts a rotation: a new root, written to the CA's directory, issues from now on and joins the
   * end of the trust bundle. Rotations asked for at once run one after the other.
   */
  rotate(): Promise<CaRotation> {
    const rotation = this.#rotating.then(() => this.#rotate());
    this.#rotating = rotation.catch(() => {});
    return rotation;
  }

  /**
   * Tells the CA which instances run now. Those not among them leave their record, and a root
   * that no live instance depends on any more is dropped from the bundle.
   */
  retain(live: Iterable<string>): void {
    this.#live = new Set(live);
    for (const instance of this.#issued.keys()) {
      if (!this.#live.has(instance)) this.#issued.delete(instance);
    }
    if (this.#prune()) this.#emit();
  }

  /** Calls `listener` with the new bundle on every change of it; returns the unsubscribe function. */
  onChange(listener: (bundle: string[]) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async #rotate(): Promise<CaRotation> {
    const root = await createRoot(this.#system, this.#clock.now());
    await saveRoot(this.#dir, root);
    const previous = this.#trusted.map((r) => r.fingerprint);
    this.#issuing = root;
    this.#trusted = [...this.#trusted, { pem: root.pem, fingerprint: root.fingerprint }];
    this.#log.info(
      { fingerprint: root.fingerprint, previous },
      'CA: rotation started; new certificates come from the new root, and the old one stays trusted until every running instance has renewed',
    );
    this.#prune();
    this.#emit();
    return {
      fingerprint: root.fingerprint,
      notAfter: new Date(root.notAfterMs).toISOString(),
      trustBundleSize: this.#trusted.length,
    };
  }

  /** Drops the roots no live instance depends on; whether any was dropped. */
  #prune(): boolean {
    const keep = new Set(
      rootsToTrust({
        roots: this.#trusted.map((r) => r.fingerprint),
        issued: this.#issued,
        live: this.#live,
        nowMs: this.#clock.now(),
        holdUntilMs: this.#holdUntilMs,
      }),
    );
    const dropped = this.#trusted.filter((r) => !keep.has(r.fingerprint));
    if (dropped.length === 0) return false;
    this.#trusted = this.#trusted.filter((r) => keep.has(r.fingerprint));
    this.#log.info(
      { dropped: dropped.map((r) => r.fingerprint) },
      'CA: no running instance holds a certificate of the old root any more; it is no longer trusted',
    );
    return true;
  }

  /**
   * Holds older roots for a moment after an issue (see CA_DEFAULTS.oldRootHoldMs), then looks
   * again whether they are still needed.
   */
  #hold(): void {
    this.#holdUntilMs = this.#clock.now() + this.#holdMs;
    if (this.#holdTimer !== undefined) clearTimeout(this.#holdTimer);
    this.#holdTimer = setTimeout(() => {
      this.#holdTimer = undefined;
      // The clock may be a test's, which the timer does not move: the hold is over either way.
      this.#holdUntilMs = 0;
      if (this.#prune()) this.#emit();
    }, this.#holdMs);
    this.#holdTimer.unref();
  }

  #emit(): void {
    const bundle = this.trustBundle();
    for (const listener of this.#listeners) {
      try {
        listener(bundle);
      } catch (error) {
        this.#log.error({ err: error }, 'a trust bundle listener failed');
      }
    }
  }
}
