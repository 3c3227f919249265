import { generateKeyPair, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { CONTROL_PATHS, type WorkloadIdentity } from '@flotilla/spec';
import { Client } from 'undici';
import { MESH_DEFAULTS } from '../defaults.ts';
import { CertificateError, type CertificateErrorCode } from '../errors.ts';
import type { MeshLogger, WorkloadCertificate } from '../types.ts';
import { type IssuedCertificate, readCertificateResponse } from './certificate-response.ts';
import type { KeyAndChain } from './tls-context.ts';

const generateEcKeyPair = promisify(generateKeyPair);

/** Longest delay setTimeout honours; a longer one fires at once, which would renew in a loop. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How to get and keep a workload certificate from the control plane. */
export interface CertificateSourceOptions {
  /** Base URL of the control plane. */
  controlUrl: string;
  /** The instance's own token (FLOTILLA_INSTANCE_TOKEN). Sent as a bearer token; never logged. */
  instanceToken: string;
  /** Receives failed renewals (with the control plane URL) and recoveries. */
  log: MeshLogger;
  /** Fraction of a certificate's lifetime after which it is renewed, in (0, 1). @default 0.5 */
  renewFraction?: number;
  /** Wall clock in ms since the epoch, the one certificate validity is measured against. @default Date.now */
  now?: () => number;
}

/**
 * The wait before renewal attempt number `failures` (1 for the first retry): 1 s doubling up to
 * 30 s, jittered into the upper half, so that the processes of a system do not all knock on a
 * restarted control plane in the same millisecond.
 *
 * @param random a number in [0, 1)
 */
export function renewalRetryDelayMs(failures: number, random: number): number {
  const { retryInitialMs, retryMaxMs } = MESH_DEFAULTS.tls;
  const ceilingMs = Math.min(retryMaxMs, retryInitialMs * 2 ** Math.max(0, failures - 1));
  return ceilingMs * (0.5 + random / 2);
}

/**
 * This process's workload certificate, from the control plane's CA, renewed in place.
 *
 * Every request carries a fresh P-256 key pair made here; only the public key leaves the process.
 * A certificate is renewed at `renewFraction` of its lifetime, counted from when it arrived (a CA
 * back-dates notBefore for clock skew, so notBefore would shorten the wait). A failed renewal is
 * retried with backoff and the held certificate stays in use meanwhile, so a control plane that
 * is away for less than the rest of a lifetime goes unnoticed by peers. Failures are logged when
 * their cause changes, not on every attempt.
 */
export class CertificateSource implements WorkloadCertificate {
  readonly #controlUrl: string;
  readonly #token: string;
  readonly #log: MeshLogger;
  readonly #renewFraction: number;
  readonly #now: () => number;
  readonly #client: Client;
  readonly #path: string;
  readonly #stop = new AbortController();
  readonly #listeners = new Set<() => void>();
  #held!: IssuedCertificate;
  #trustBundle: readonly string[] = Object.freeze([]);
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;
  #failures = 0;
  #loggedCode: CertificateErrorCode | undefined;
  #loggedExpiry = false;
  /** Fingerprint of the newest root a trust-bundle change renewed for, so that it renews once per root. */
  #renewedForRoot: string | undefined;

  private constructor(options: CertificateSourceOptions) {
    const renewFraction = options.renewFraction ?? MESH_DEFAULTS.tls.renewFraction;
    if (!(renewFraction > 0 && renewFraction < 1)) {
      throw new RangeError(`renewFraction must be between 0 and 1 (exclusive), got ${renewFraction}.`);
    }
    const url = new URL(options.controlUrl);
    this.#controlUrl = options.controlUrl;
    this.#token = options.instanceToken;
    this.#log = options.log;
    this.#renewFraction = renewFraction;
    this.#now = options.now ?? Date.now;
    this.#client = new Client(url.origin);
    this.#path = url.pathname.replace(/\/+$/, '') + CONTROL_PATHS.certificate;
  }

  /**
   * Asks for a first certificate and resolves once it is held. Rejects with a CertificateError
   * when the control plane refuses or cannot be reached: a process without a certificate cannot
   * take part in mutual TLS, and its supervisor restarts it with backoff.
   */
  static async start(options: CertificateSourceOptions): Promise<CertificateSource> {
    const source = new CertificateSource(options);
    try {
      source.#install(await source.#request());
    } catch (error) {
      await source.close();
      throw error;
    }
    return source;
  }

  /** The key and chain in force now; the same object until the next renewal. */
  current(): KeyAndChain {
    return this.#held.pair;
  }

  /** When the certificate in force expires. */
  get notAfter(): Date {
    return this.#held.leaf.validToDate;
  }

  /** Who the certificate in force says this process is. */
  get identity(): WorkloadIdentity {
    return this.#held.identity;
  }

  /** The PEM roots last heard of, from the CA or a routing table, newest last; the same array until it changes. */
  trustBundle(): readonly string[] {
    return this.#trustBundle;
  }

  /** Calls `listener` after every renewal; returns a function that stops it. */
  onRenew(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Takes a routing table's trust bundle. When the certificate in force was not issued by the
   * bundle's newest (last) root, a CA rotation is under way: it renews at once, and only once per
   * root, so that a CA still issuing from the old root does not make it ask in a loop; the next
   * regular renewal tries again.
   */
  trustBundleChanged(trustBundle: readonly string[]): void {
    if (!sameBundle(trustBundle, this.#trustBundle)) this.#trustBundle = Object.freeze([...trustBundle]);
    const newest = trustBundle.at(-1);
    if (newest === undefined || this.#stop.signal.aborted) return;
    let root: X509Certificate;
    try {
      root = new X509Certificate(newest);
    } catch (cause) {
      this.#log.warn(
        { err: cause, controlUrl: this.#controlUrl },
        'The trust bundle holds a root that is not PEM.',
      );
      return;
    }
    if (root.fingerprint256 === this.#renewedForRoot || issuedBy(this.#held.leaf, root)) return;
    this.#renewedForRoot = root.fingerprint256;
    void this.#rotate(root);
  }

  /** Stops renewing and closes the connection to the control plane. The held certificate stays readable. */
  async close(): Promise<void> {
    this.#stop.abort();
    clearTimeout(this.#timer);
    await this.#renewing;
    await this.#client.destroy();
  }

  async #rotate(root: X509Certificate): Promise<void> {
    // A renewal in flight may already bring a leaf of the new root.
    await this.#renewing;
    if (!this.#stop.signal.aborted && !issuedBy(this.#held.leaf, root)) await this.#renew();
  }

  #renew(): Promise<void> {
    this.#renewing ??= this.#attempt().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #attempt(): Promise<void> {
    let next: IssuedCertificate;
    try {
      next = await this.#request();
    } catch (error) {
      if (this.#stop.signal.aborted) return;
      this.#failed(error as CertificateError);
      return;
    }
    if (this.#stop.signal.aborted) return;
    this.#install(next);
    if (this.#loggedCode !== undefined) {
      this.#log.info(
        { controlUrl: this.#controlUrl, notAfter: this.notAfter.toISOString() },
        'The control plane renewed the workload certificate again.',
      );
    }
    this.#loggedCode = undefined;
    this.#loggedExpiry = false;
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (cause) {
        this.#log.warn({ err: cause }, 'A certificate renewal listener threw; the others were still called.');
      }
    }
  }

  #install(next: IssuedCertificate): void {
    this.#held = next;
    this.#failures = 0;
    if (next.trustBundle !== undefined && !sameBundle(next.trustBundle, this.#trustBundle)) {
      this.#trustBundle = next.trustBundle;
    }
    const lifetimeMs = next.leaf.validToDate.getTime() - next.issuedAt;
    this.#schedule(next.issuedAt + lifetimeMs * this.#renewFraction - this.#now());
  }

  #failed(error: CertificateError): void {
    this.#failures++;
    const retryInMs = renewalRetryDelayMs(this.#failures, Math.random());
    const expired = this.#now() >= this.notAfter.getTime();
    if (error.code !== this.#loggedCode || (expired && !this.#loggedExpiry)) {
      this.#loggedCode = error.code;
      this.#loggedExpiry = expired;
      const consequence = expired
        ? 'The workload certificate has expired; peers refuse this process until renewal succeeds.'
        : 'The workload certificate stays in use until it expires; retrying.';
      this.#log.warn(
        {
          err: error,
          code: error.code,
          controlUrl: this.#controlUrl,
          notAfter: this.notAfter.toISOString(),
          retryInMs: Math.round(retryInMs),
        },
        `${error.message} ${consequence}`,
      );
    }
    this.#schedule(retryInMs);
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#renew(), Math.min(MAX_TIMER_MS, Math.max(0, delayMs)));
    this.#timer.unref();
  }

  /** One certificate request with a fresh key pair. */
  async #request(): Promise<IssuedCertificate> {
    const { privateKey, publicKey } = await generateEcKeyPair('ec', { namedCurve: 'P-256' });
    let statusCode: number;
    let body: unknown;
    try {
      const response = await this.#client.request({
        path: this.#path,
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ publicKey: publicKey.export({ type: 'spki', format: 'pem' }) }),
        signal: this.#stop.signal,
        headersTimeout: MESH_DEFAULTS.tls.requestTimeoutMs,
        bodyTimeout: MESH_DEFAULTS.tls.requestTimeoutMs,
        // A renewal comes every half hour or so; an idle keep-alive connection would only hold the process open.
        reset: true,
      });
      statusCode = response.statusCode;
      body = statusCode === 200 ? await response.body.json() : await response.body.dump();
    } catch (cause) {
      const code = cause instanceof SyntaxError ? 'MESH_CERT_BAD_RESPONSE' : 'MESH_CERT_UNREACHABLE';
      throw new CertificateError(code, this.#controlUrl, { cause });
    }
    if (statusCode !== 200) {
      const code =
        statusCode === 401
          ? 'MESH_CERT_UNAUTHORIZED'
          : statusCode === 400
            ? 'MESH_CERT_REJECTED'
            : 'MESH_CERT_STATUS';
      throw new CertificateError(code, this.#controlUrl, { statusCode });
    }
    try {
      return readCertificateResponse(body, privateKey, this.#now());
    } catch (cause) {
      throw new CertificateError('MESH_CERT_BAD_RESPONSE', this.#controlUrl, { cause });
    }
  }
}

/** Whether `root` signed `leaf`: names and key identifiers match, and the signature checks out. */
function issuedBy(leaf: X509Certificate, root: X509Certificate): boolean {
  return leaf.checkIssued(root) && leaf.verify(root.publicKey);
}

function sameBundle(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((pem, i) => pem === b[i]);
}
