export { Counter, type CounterSeries } from './counter.ts';
export { METRICS_CONTENT_TYPE } from './format.ts';
export { Gauge } from './gauge.ts';
export { Histogram, type HistogramOptions, type HistogramSeries } from './histogram.ts';
export {
  ISTIO_DURATION_BUCKETS_MS,
  ISTIO_LABEL_NAMES,
  ISTIO_UNKNOWN,
  type IstioLabel,
  type IstioLabels,
  IstioRequestMetrics,
  type IstioSeries,
  istioWorkload,
} from './istio.ts';
export type { LabelValues, MetricOptions } from './metric.ts';
export { collectProcessMetrics } from './process-metrics.ts';
export { Registry } from './registry.ts';
