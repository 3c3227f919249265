import { RuntimeError } from '../errors.ts';
import { sampleLine } from './format.ts';
import { type LabelValues, Metric, type MetricOptions, splitArgs, type UpdateArgs } from './metric.ts';

/** One series of a counter. */
export interface CounterSeries {
  /** Adds `value` (1 when omitted). */
  inc(value?: number): void;
}

/** A value that only goes up (requests served, seconds of CPU used). */
export class Counter<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = 'counter';

  constructor(options: MetricOptions<L>) {
    super(options);
    if (this.labelNames.length === 0) this.state(undefined);
  }

  /** Adds `value` (1 when omitted) to the series with these label values. */
  inc(...args: UpdateArgs<L, [value?: number]>): void {
    const [labels, value] = splitArgs<L>(args, 1);
    this.#add(this.state(labels), value);
  }

  /** The series with these label values, found once (prom-client's `labels`): a hot path keeps it. */
  labels(labels: LabelValues<L>): CounterSeries {
    const state = this.state(labels);
    return { inc: (value = 1) => this.#add(state, value) };
  }

  #add(state: { value: number }, value: number): void {
    if (!(value >= 0)) {
      throw new RuntimeError('FLOTILLA_METRIC_INVALID', `Counter ${this.name} cannot go down (got ${value})`);
    }
    state.value += value;
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }

  protected samples(): string {
    let out = '';
    for (const { labels, state } of this.series.values()) out += sampleLine(this.name, labels, state.value);
    return out;
  }
}
