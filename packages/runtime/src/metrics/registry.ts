import { RuntimeError } from '../errors.ts';
import { Counter } from './counter.ts';
import { Gauge } from './gauge.ts';
import { Histogram, type HistogramOptions } from './histogram.ts';
import type { Metric, MetricOptions } from './metric.ts';

/**
 * A set of metrics exposed together on one `/metrics` endpoint. Each service (and the gateway)
 * owns one, so several in one process never share series.
 */
export class Registry {
  private readonly metrics = new Map<string, Metric<string, unknown>>();
  private readonly hooks: (() => void)[] = [];

  /** Creates and registers a counter. */
  counter<const L extends string = never>(options: MetricOptions<L>): Counter<L> {
    return this.add(new Counter(options));
  }

  /** Creates and registers a gauge. */
  gauge<const L extends string = never>(options: MetricOptions<L>): Gauge<L> {
    return this.add(new Gauge(options));
  }

  /** Creates and registers a histogram. */
  histogram<const L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    return this.add(new Histogram(options));
  }

  /** Runs `hook` before every exposition, to refresh values that are read rather than counted. */
  onCollect(hook: () => void): void {
    this.hooks.push(hook);
  }

  /** Every metric in the Prometheus text exposition format 0.0.4. */
  expose(): string {
    for (const hook of this.hooks) hook();
    let out = '';
    for (const metric of this.metrics.values()) out += metric.expose();
    return out;
  }

  private add<M extends Metric<string, unknown>>(metric: M): M {
    if (this.metrics.has(metric.name)) {
      throw new RuntimeError(
        'FLOTILLA_METRIC_INVALID',
        `A metric named ${metric.name} is already registered`,
      );
    }
    this.metrics.set(metric.name, metric);
    return metric;
  }
}
