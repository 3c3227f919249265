import type { SystemSpec } from '@flotilla/spec';
import type { Logger } from 'pino';
import { ApiError } from './api/index.ts';
import { CaError, CertificateAuthority } from './ca/index.ts';
import { InstanceTokenRegistry } from './identity/index.ts';
import { OutlierStore } from './outliers/index.ts';
import { statePaths } from './state/index.ts';
import type { Clock } from './supervisor/index.ts';
import type { CaRotation, CertificateGrant, EjectionStatus, ReportedEjection, TokenHolder } from './types.ts';

/** What the mesh identity works from. */
export interface MeshIdentityOptions {
  spec: SystemSpec;
  log: Logger;
  /** @default Date */
  clock?: Clock;
}

/**
 * Who the instances are and what they say: each running process's instance token, the CA that
 * issues their certificates (none at all under `mesh.mtls: disable`), and the outlier ejections
 * they report. A process that exits loses its token, its outlier report, and its record at the
 * CA, so that a rotation waits only for processes that run.
 */
export class MeshIdentity {
  readonly tokens = new InstanceTokenRegistry();
  readonly #spec: SystemSpec;
  readonly #ca: CertificateAuthority | undefined;
  readonly #outliers: OutlierStore;
  /** Instances that were issued a certificate: they speak mutual TLS, callers use it with them. */
  readonly #certified = new Set<string>();
  readonly #certifiedListeners = new Set<(ids: ReadonlySet<string>) => void>();

  private constructor(spec: SystemSpec, ca: CertificateAuthority | undefined, clock: Clock | undefined) {
    this.#spec = spec;
    this.#ca = ca;
    this.#outliers = new OutlierStore(clock);
    this.tokens.onRevoke((holder) => {
      this.#outliers.forget(holder.id);
      this.#ca?.retain(this.tokens.liveIds());
    });
  }

  /** Opens the CA in `.flotilla/ca/` (creating its root on the first run) unless mTLS is disabled. */
  static async open(options: MeshIdentityOptions): Promise<MeshIdentity> {
    const { spec, log, clock } = options;
    const ca =
      spec.mesh.mtls === 'disable'
        ? undefined
        : await CertificateAuthority.open({
            dir: statePaths(spec.stateDir).ca,
            system: spec.name,
            log,
            clock,
          });
    return new MeshIdentity(spec, ca, clock);
  }

  /** PEM roots for the routing table, newest last; empty without a CA. */
  trustBundle(): string[] {
    return this.#ca?.trustBundle() ?? [];
  }

  /** Calls `listener` with every new trust bundle; returns the unsubscribe function. */
  onTrustBundle(listener: (bundle: string[]) => void): () => void {
    return this.#ca?.onChange(listener) ?? (() => {});
  }

  /** Calls `listener` with the certified instance ids whenever an instance is certified the first time. */
  onCertified(listener: (ids: ReadonlySet<string>) => void): () => void {
    this.#certifiedListeners.add(listener);
    return () => this.#certifiedListeners.delete(listener);
  }

  /** POST /v1/certificate: a certificate naming the caller's workload and version, for `mesh.certificates.ttlMs`. */
  async certificate(holder: TokenHolder, publicKeyPem: string): Promise<CertificateGrant> {
    const ca = this.#requireCa();
    // The CA counts a certificate only for a live instance; a process asks soon after it started.
    ca.retain(this.tokens.liveIds());
    try {
      const issued = await ca.issue({
        instance: holder.id,
        publicKeyPem,
        identity: { system: this.#spec.name, service: holder.service, version: holder.version },
        ttlMs: this.#spec.mesh.certificates.ttlMs,
      });
      if (!this.#certified.has(holder.id)) {
        // An instance id keeps its program across restarts, so it stays certified: only a process
        // that speaks TLS asks for a certificate.
        this.#certified.add(holder.id);
        for (const listener of this.#certifiedListeners) listener(this.#certified);
      }
      return { ...issued, trustBundle: ca.trustBundle() };
    } catch (error) {
      if (error instanceof CaError)
        throw new ApiError('BAD_REQUEST', { message: error.message, cause: error });
      throw error;
    }
  }

  /** POST /v1/outliers: what the caller ejects now replaces what it said before. */
  reportOutliers(holder: TokenHolder, ejected: readonly ReportedEjection[]): void {
    this.#outliers.report(holder.id, ejected);
  }

  /** POST /v1/ca/rotate */
  rotateCa(): Promise<CaRotation> {
    return this.#requireCa().rotate();
  }

  /** Instances ejected now, by instance id, for the status. */
  ejections(): Map<string, EjectionStatus> {
    return this.#outliers.ejections();
  }

  #requireCa(): CertificateAuthority {
    if (this.#ca) return this.#ca;
    throw new ApiError('NOT_FOUND', {
      message:
        'mesh.mtls is "disable" in flotilla.yaml, so this system runs no certificate authority: calls between instances are plaintext and no certificates are issued.',
    });
  }
}
