import type { AuthorizationRule, MtlsMode } from '@flotilla/spec';
import { allows } from './authorization.ts';
import type { Context } from './context.ts';
import { HttpError } from './errors.ts';
import type { Counter, Registry } from './metrics/index.ts';
import { ISTIO_UNKNOWN } from './metrics/index.ts';

/**
 * The mesh's door of one instance, what Istio's PeerAuthentication and AuthorizationPolicy do in
 * a sidecar: under `strict` mutual TLS a plaintext request is refused, and a service with an
 * authorization policy lets in only the workloads it names. Probes and scrapes (`GET /healthz`,
 * `/readyz`, `/metrics`) always pass, in plaintext too: the control plane probes and scrapes
 * without a certificate, as Istio's agent probes on the sidecar's behalf.
 *
 * The mode and rules are the routing table's, set by the service on every table.
 */
export class InboundGuard {
  /** The `mesh.mtls` in force. */
  mode: MtlsMode;
  /** `services.<self>.authorization` in force; null lets any caller in. */
  rules: readonly AuthorizationRule[] | null = null;
  readonly #service: string;
  readonly #denied: Counter<'source_workload'>;

  constructor(service: string, mode: MtlsMode, registry: Registry) {
    this.#service = service;
    this.mode = mode;
    this.#denied = registry.counter({
      name: 'flotilla_authorization_denied_total',
      help: "Requests refused by the service's authorization policy, by calling workload.",
      labelNames: ['source_workload'],
    });
  }

  /** The refusal of a request that is not a probe, or undefined when it may go on. */
  check(ctx: Context): HttpError | undefined {
    if (!ctx.secure && this.mode === 'strict') return HttpError.of('MTLS_REQUIRED');
    if (this.rules === null) return undefined;
    const workload = ctx.peer?.service;
    const method = ctx.req.method ?? 'GET';
    if (allows(this.rules, workload, method, ctx.path)) return undefined;
    this.#denied.inc({ source_workload: workload ?? ISTIO_UNKNOWN });
    const call = `${this.#service} ${method} ${ctx.path}`;
    const see = `see services.${this.#service}.authorization in flotilla.yaml`;
    return HttpError.of('FORBIDDEN_BY_POLICY', {
      message:
        workload === undefined
          ? `a caller without a workload certificate may not call ${call}; call it through the mesh client (mutual TLS), ${see}`
          : `workload "${workload}" may not call ${call}; ${see}`,
    });
  }
}
