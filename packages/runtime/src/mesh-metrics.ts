import diagnosticsChannel from 'node:diagnostics_channel';
import { MESH_REQUEST_CHANNEL, type MeshRequestMessage } from '@flotilla/mesh';
import type { InstanceIdentity } from '@flotilla/spec';
import type { Context } from './context.ts';
import { ISTIO_UNKNOWN, IstioRequestMetrics, istioWorkload, type Registry } from './metrics/index.ts';

/**
 * Istio's request metrics of one instance, as the sidecar beside it would report them: one
 * `reporter="destination"` sample per request it answers and one `reporter="source"` sample per
 * call its mesh client makes (heard on the mesh's diagnostics channel, so the mesh imports no
 * metrics code). Probes and scrapes are not counted, as Istio does not count them either.
 */
export class MeshMetrics {
  readonly #istio: IstioRequestMetrics;
  readonly #identity: InstanceIdentity;
  readonly #workload: string;

  constructor(registry: Registry, identity: InstanceIdentity) {
    this.#istio = new IstioRequestMetrics(registry);
    this.#identity = identity;
    this.#workload = istioWorkload(identity.service, identity.version);
  }

  /** Counts a request this instance answered with `code` (0: the caller went away first). */
  inbound(ctx: Context, code: number, durationMs: number): void {
    const { peer, secure } = ctx;
    const key = `${peer?.service ?? ''}\u0000${peer?.version ?? ''}\u0000${code}\u0000${secure}`;
    let series = this.#istio.get(key);
    if (series === undefined) {
      const { service, version } = this.#identity;
      series = this.#istio.create(key, {
        reporter: 'destination',
        source_workload: peer === undefined ? ISTIO_UNKNOWN : istioWorkload(peer.service, peer.version),
        source_version: peer?.version ?? ISTIO_UNKNOWN,
        destination_service_name: service,
        destination_workload: this.#workload,
        destination_version: version,
        response_code: String(code),
        // Envoy's flag for a response cut because the downstream connection went away.
        response_flags: code === 0 ? 'DC' : '-',
        connection_security_policy: secure ? 'mutual_tls' : 'none',
      });
    }
    series.requests.inc();
    series.duration.observe(durationMs);
  }

  /**
   * Counts this instance's outbound mesh calls from now on; returns a function that stops. The
   * channel is process-wide, so only calls made in this instance's name are counted.
   */
  countOutbound(): () => void {
    const { service, version } = this.#identity;
    const onMessage = (message: unknown) => {
      const call = message as MeshRequestMessage;
      if (call.sourceWorkload === service && call.sourceVersion === version) this.#outbound(call);
    };
    diagnosticsChannel.subscribe(MESH_REQUEST_CHANNEL, onMessage);
    return () => diagnosticsChannel.unsubscribe(MESH_REQUEST_CHANNEL, onMessage);
  }

  #outbound(call: MeshRequestMessage): void {
    const policy = call.connectionSecurityPolicy ?? 'none';
    const { destinationService, destinationVersion, statusCode, responseFlags } = call;
    const key = `>${destinationService}\u0000${destinationVersion}\u0000${statusCode}\u0000${responseFlags}\u0000${policy}`;
    let series = this.#istio.get(key);
    if (series === undefined) {
      series = this.#istio.create(key, {
        reporter: 'source',
        source_workload: this.#workload,
        source_version: this.#identity.version,
        destination_service_name: destinationService,
        destination_workload: istioWorkload(destinationService, destinationVersion),
        destination_version: destinationVersion,
        response_code: String(statusCode),
        response_flags: responseFlags,
        connection_security_policy: policy,
      });
    }
    series.requests.inc();
    series.duration.observe(call.durationMs);
  }
}
