import type { Counter, CounterSeries } from './counter.ts';
import type { Histogram, HistogramSeries } from './histogram.ts';
import type { LabelValues } from './metric.ts';
import type { Registry } from './registry.ts';

/** Istio's default buckets of `istio_request_duration_milliseconds`, so dashboards and queries carry over. */
export const ISTIO_DURATION_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
] as const;

/** The labels of Istio's standard request metrics, in Istio's order. */
export const ISTIO_LABEL_NAMES = [
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

/** A label of Istio's standard request metrics. */
export type IstioLabel = (typeof ISTIO_LABEL_NAMES)[number];

/** The label values of one series of Istio's request metrics. */
export type IstioLabels = LabelValues<IstioLabel>;

/** What Istio writes when it does not know a label's value. */
export const ISTIO_UNKNOWN = 'unknown';

/** The gateway's workload name, as a source and as the peer named in its certificate. */
const GATEWAY_WORKLOAD = 'gateway';

/**
 * The workload label of a service's version: Istio names the Deployment (`orders-v1`), which
 * Flotilla names after service and version; the gateway is one workload whatever its version.
 */
export function istioWorkload(service: string, version: string): string {
  if (service === GATEWAY_WORKLOAD) return GATEWAY_WORKLOAD;
  if (service === ISTIO_UNKNOWN || version === ISTIO_UNKNOWN) return ISTIO_UNKNOWN;
  return `${service}-${version}`;
}

/** The two series one request updates. */
export interface IstioSeries {
  readonly requests: CounterSeries;
  readonly duration: HistogramSeries;
}

/**
 * Istio's standard request metrics, `istio_requests_total` and
 * `istio_request_duration_milliseconds`, with the same names, labels and buckets as an Envoy
 * sidecar writes them, so analysis queries, Kiali and Grafana read them unchanged. A reporter
 * keys its series by the few label values that vary per request and finds both series with one
 * lookup, without building a labels object on the hot path.
 */
export class IstioRequestMetrics {
  readonly #requests: Counter<IstioLabel>;
  readonly #duration: Histogram<IstioLabel>;
  readonly #series = new Map<string, IstioSeries>();

  constructor(registry: Registry) {
    this.#requests = registry.counter({
      name: 'istio_requests_total',
      help: 'Requests handled, by source, destination, response code and response flags.',
      labelNames: ISTIO_LABEL_NAMES,
    });
    this.#duration = registry.histogram({
      name: 'istio_request_duration_milliseconds',
      help: 'Duration of requests in milliseconds, from the first byte received to the last byte sent.',
      labelNames: ISTIO_LABEL_NAMES,
      buckets: ISTIO_DURATION_BUCKETS_MS,
    });
  }

  /** The series cached under `key`, if created. */
  get(key: string): IstioSeries | undefined {
    return this.#series.get(key);
  }

  /** Creates the series of `labels` and caches them under `key`, which must determine `labels`. */
  create(key: string, labels: IstioLabels): IstioSeries {
    const series = { requests: this.#requests.labels(labels), duration: this.#duration.labels(labels) };
    this.#series.set(key, series);
    return series;
  }
}
