import {
  ISTIO_UNKNOWN,
  IstioRequestMetrics,
  type IstioSeries,
  istioWorkload,
  type Registry,
} from '@flotilla/runtime';
import type { AccessRecord } from './access-log.ts';
import { GATEWAY_DEFAULTS } from './defaults.ts';

/**
 * Istio's standard request metrics as the gateway reports them: one count and one duration per
 * request, labelled the way an Istio sidecar on the gateway would label them (`reporter="source"`),
 * so analysis queries, Kiali and Grafana work on these series unchanged.
 */
export class GatewayMetrics {
  readonly #istio: IstioRequestMetrics;
  readonly #sourceVersion: string;

  constructor(registry: Registry, sourceVersion: string) {
    this.#istio = new IstioRequestMetrics(registry);
    this.#sourceVersion = sourceVersion;
  }

  /** Counts a finished request. */
  record(record: AccessRecord): void {
    const series = this.#seriesOf(record);
    series.requests.inc();
    series.duration.observe(record.duration_ms);
  }

  #seriesOf(record: AccessRecord): IstioSeries {
    const service = record.upstream_service ?? ISTIO_UNKNOWN;
    const version = record.upstream_version ?? ISTIO_UNKNOWN;
    const policy = record.connection_security_policy;
    const key = `${service}\u0000${version}\u0000${record.status}\u0000${record.response_flags}\u0000${policy}`;
    return (
      this.#istio.get(key) ??
      this.#istio.create(key, {
        reporter: 'source',
        source_workload: GATEWAY_DEFAULTS.workload,
        source_version: this.#sourceVersion,
        destination_service_name: service,
        destination_workload: istioWorkload(service, version),
        destination_version: version,
        response_code: String(record.status),
        response_flags: record.response_flags,
        connection_security_policy: policy,
      })
    );
  }
}
