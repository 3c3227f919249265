import type { Server as TlsServer } from 'node:tls';
import { CertificateError, CertificateSource, type MeshClient, WorkloadTls } from '@flotilla/mesh';
import type { InstanceIdentity, RoutingTable } from '@flotilla/spec';
import type { Logger } from 'pino';
import type { ConnectionFront } from './connection-front.ts';
import type { InboundGuard } from './inbound-guard.ts';

/** What an instance under Flotilla needs to apply the routing table to the traffic it receives. */
export interface InboundMeshOptions {
  identity: InstanceIdentity;
  controlUrl: string;
  /** FLOTILLA_INSTANCE_TOKEN, which the certificate is asked for with; without it there is no mutual TLS. */
  instanceToken: string | undefined;
  mesh: MeshClient;
  guard: InboundGuard;
  front: ConnectionFront;
  log: Logger;
}

/**
 * The routing table applied to the inbound side of one instance: on every table, the mTLS mode
 * and the service's authorization policy go to the guard and version affinity to the call
 * scopes. The certificate is asked for once the first table turns mutual TLS on (`strict` or
 * `permissive`), and then kept and renewed even if a later table turns it off; it serves both
 * the TLS side of the front and the mesh client's calls. The mesh client hands it every table's
 * trust bundle, which the front's terminator verifies callers against.
 *
 * Until the first table arrives the guard stays at `strict` (it fails closed) and there is no
 * certificate, so only probes get in; the service is not ready then anyway.
 */
export class InboundMesh {
  readonly #options: InboundMeshOptions;
  readonly #unsubscribe: () => void;
  #table: RoutingTable | undefined;
  #affinity: string | undefined;
  #certificate: Promise<void> | undefined;
  #source: CertificateSource | undefined;
  #tls: TlsServer | undefined;
  #warnedNoToken = false;
  #closed = false;

  constructor(options: InboundMeshOptions) {
    this.#options = options;
    this.#unsubscribe = options.mesh.onTable((table) => this.#apply(table));
    // Asked for at once, beside the wait for the first table rather than after it: start-up is
    // what a user waits for. A control plane without a CA (`mtls: disable`) answers 404.
    if (options.instanceToken !== undefined) this.#certificate = this.#getCertificate(true);
    const table = options.mesh.table();
    if (table !== undefined) this.#apply(table);
  }

  /** This instance's version when the table asks for version affinity: unpinned requests pin to it. */
  affinity(): string | undefined {
    return this.#affinity;
  }

  /**
   * Resolves once the certificate that the tables so far ask for is held; rejects when the control
   * plane refused it or could not be reached.
   */
  async ready(): Promise<void> {
    await this.#certificate;
  }

  /** Stops following tables and renewing the certificate. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    await this.#certificate?.catch(() => undefined);
    await this.#source?.close();
  }

  #apply(table: RoutingTable): void {
    const { identity, guard, front } = this.#options;
    const { mtls, versionAffinity } = table.mesh;
    this.#table = table;
    this.#affinity = versionAffinity ? identity.version : undefined;
    guard.rules = table.services[identity.service]?.authorization ?? null;
    guard.mode = mtls;
    front.tls = mtls === 'disable' ? undefined : this.#tls;
    if (mtls !== 'disable') this.#certificate ??= this.#getCertificate();
  }

  /**
   * Asks for the certificate; a failure is logged and the next table asks again. Asked before
   * any table (`early`), a 404 means the system runs no CA and is no failure.
   */
  #getCertificate(early = false): Promise<void> | undefined {
    const { controlUrl, instanceToken, mesh, front, log } = this.#options;
    if (instanceToken === undefined) {
      if (!this.#warnedNoToken) {
        this.#warnedNoToken = true;
        log.warn(
          `mesh.mtls is ${this.#table?.mesh.mtls} but FLOTILLA_INSTANCE_TOKEN is not set: without a certificate this instance takes plaintext only, and under strict nothing but probes`,
        );
      }
      return undefined;
    }
    const started = CertificateSource.start({ controlUrl, instanceToken, log }).catch((err: unknown) => {
      if (early && err instanceof CertificateError && err.statusCode === 404) return undefined;
      throw err;
    });
    const getting = started.then(async (source) => {
      if (source === undefined) {
        this.#certificate = undefined;
        return;
      }
      if (this.#closed) {
        await source.close();
        return;
      }
      this.#source = source;
      // Hands the source the table's trust bundle too, before the terminator is built on it.
      mesh.setCertificate(source);
      this.#tls = new WorkloadTls(source).createServer();
      if (this.#table?.mesh.mtls !== 'disable') front.tls = this.#tls;
      log.info({ identity: source.identity, not_after: source.notAfter }, 'workload certificate held');
    });
    getting.catch((err: unknown) => {
      this.#certificate = undefined;
      log.error({ err }, 'no workload certificate: mutual TLS waits for the next routing table');
    });
    return getting;
  }
}
