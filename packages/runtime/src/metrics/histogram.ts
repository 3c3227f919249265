import { RuntimeError } from '../errors.ts';
import { formatValue, sampleLine } from './format.ts';
import { type LabelValues, Metric, type MetricOptions, splitArgs, type UpdateArgs } from './metric.ts';

/** Options of a histogram: upper bounds of its buckets, strictly increasing (`+Inf` is implied). */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  buckets: readonly number[];
}

interface HistogramState {
  /** Observations per bucket, not cumulative: the text format's cumulative counts are summed at scrape time. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** One series of a histogram. */
export interface HistogramSeries {
  /** Counts one observation of `value`. */
  observe(value: number): void;
}

/** Observations counted into buckets (request durations, sizes). */
export class Histogram<L extends string = never> extends Metric<L, HistogramState> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];
  private readonly bucketLabels: readonly string[];

  constructor(options: HistogramOptions<L>) {
    super(options);
    if ((this.labelNames as readonly string[]).includes('le')) {
      throw new RuntimeError(
        'FLOTILLA_METRIC_INVALID',
        `Histogram ${this.name} cannot have a label named "le"`,
      );
    }
    const buckets = options.buckets.filter((b) => b !== Number.POSITIVE_INFINITY);
    if (buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) {
      throw new RuntimeError(
        'FLOTILLA_METRIC_INVALID',
        `Buckets of histogram ${this.name} must be finite and strictly increasing`,
      );
    }
    this.buckets = Object.freeze(buckets);
    this.bucketLabels = Object.freeze([...buckets.map(formatValue), '+Inf']);
    if (this.labelNames.length === 0) this.state(undefined);
  }

  /** Counts one observation of `value` in the series with these label values. */
  observe(...args: UpdateArgs<L, [value: number]>): void {
    const [labels, value] = splitArgs<L>(args, 0);
    this.#count(this.state(labels), value);
  }

  /** The series with these label values, found once (prom-client's `labels`): a hot path keeps it. */
  labels(labels: LabelValues<L>): HistogramSeries {
    const state = this.state(labels);
    return { observe: (value) => this.#count(state, value) };
  }

  #count(state: HistogramState, value: number): void {
    const { buckets } = this;
    let i = 0;
    while (i < buckets.length && value > buckets[i]!) i++;
    if (i < buckets.length) state.counts[i]! += 1;
    state.sum += value;
    state.count += 1;
  }

  protected initial(): HistogramState {
    return { counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
  }

  protected samples(): string {
    let out = '';
    const bucketName = `${this.name}_bucket`;
    for (const { labels, state } of this.series.values()) {
      const prefix = labels ? `${labels},` : '';
      let cumulative = 0;
      for (let i = 0; i < this.bucketLabels.length; i++) {
        cumulative = i < state.counts.length ? cumulative + state.counts[i]! : state.count;
        out += sampleLine(bucketName, `${prefix}le="${this.bucketLabels[i]}"`, cumulative);
      }
      out += sampleLine(`${this.name}_sum`, labels, state.sum);
      out += sampleLine(`${this.name}_count`, labels, state.count);
    }
    return out;
  }
}
