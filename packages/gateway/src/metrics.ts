import type { Counter, CounterSeries, Histogram, HistogramSeries, Registry } from '@flotilla/runtime';
import type { AccessRecord } from './access-log.ts';
import { GATEWAY_DEFAULTS } from './defaults.ts';

/** Istio's default buckets of `istio_request_duration_milliseconds`, so dashboards and queries carry over. */
export const ISTIO_DURATION_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
] as const;

const LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_version',
  'destination_service_name',
  'destination_workload',
  'destination_version',
  'response_code',
  'response_flags',
  'connection_security_policy',
] as const;

type IstioLabel = (typeof LABEL_NAMES)[number];

/** What Istio writes when it does not know a label's value. */
const UNKNOWN = 'unknown';

/**
 * Istio's standard request metrics as the gateway reports them: one count and one duration per
 * request, labelled the way an Istio sidecar on the gateway would label them (`reporter="source"`),
 * so analysis queries, Kiali and Grafana work on these series unchanged.
 */
export class GatewayMetrics {
  readonly #requests: Counter<IstioLabel>;
  readonly #duration: Histogram<IstioLabel>;
  readonly #sourceVersion: string;
  /** Series by destination, code and flag: a request finds its two series with one lookup. */
  readonly #series = new Map<string, { requests: CounterSeries; duration: HistogramSeries }>();

  constructor(registry: Registry, sourceVersion: string) {
    this.#sourceVersion = sourceVersion;
    this.#requests = registry.counter({
      name: 'istio_requests_total',
      help: 'Requests handled, by source, destination, response code and response flags.',
      labelNames: LABEL_NAMES,
    });
    this.#duration = registry.histogram({
      name: 'istio_request_duration_milliseconds',
      help: 'Duration of requests in milliseconds, from the first byte received to the last byte sent.',
      labelNames: LABEL_NAMES,
      buckets: ISTIO_DURATION_BUCKETS_MS,
    });
  }

  /** Counts a finished request. */
  record(record: AccessRecord): void {
    const series = this.#seriesOf(record);
    series.requests.inc();
    series.duration.observe(record.duration_ms);
  }

  #seriesOf(record: AccessRecord): { requests: CounterSeries; duration: HistogramSeries } {
    const service = record.upstream_service ?? UNKNOWN;
    const version = record.upstream_version ?? UNKNOWN;
    const key = `${service}\u0000${version}\u0000${record.status}\u0000${record.response_flags}\u0000${record.connection_security_policy}`;
    let series = this.#series.get(key);
    if (series === undefined) {
      const labels = {
        reporter: 'source',
        source_workload: GATEWAY_DEFAULTS.workload,
        source_version: this.#sourceVersion,
        destination_service_name: service,
        destination_workload: service === UNKNOWN || version === UNKNOWN ? UNKNOWN : `${service}-${version}`,
        destination_version: version,
        response_code: String(record.status),
        response_flags: record.response_flags,
        connection_security_policy: record.connection_security_policy,
      };
      series = { requests: this.#requests.labels(labels), duration: this.#duration.labels(labels) };
      this.#series.set(key, series);
    }
    return series;
  }
}
