import { RuntimeError } from '../errors.ts';
import { sampleLine } from './format.ts';
import { Metric, type MetricOptions, splitArgs, type UpdateArgs } from './metric.ts';

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
    if (!(value >= 0)) {
      throw new RuntimeError('FLOTILLA_METRIC_INVALID', `Counter ${this.name} cannot go down (got ${value})`);
    }
    this.state(labels).value += value;
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
