import { sampleLine } from './format.ts';
import { Metric, type MetricOptions, splitArgs, type UpdateArgs } from './metric.ts';

/** A value that goes up and down (memory in use, requests in flight). */
export class Gauge<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = 'gauge';

  constructor(options: MetricOptions<L>) {
    super(options);
    if (this.labelNames.length === 0) this.state(undefined);
  }

  /** Sets the series with these label values to `value`. */
  set(...args: UpdateArgs<L, [value: number]>): void {
    const [labels, value] = splitArgs<L>(args, 0);
    this.state(labels).value = value;
  }

  /** Adds `value` (1 when omitted). */
  inc(...args: UpdateArgs<L, [value?: number]>): void {
    const [labels, value] = splitArgs<L>(args, 1);
    this.state(labels).value += value;
  }

  /** Subtracts `value` (1 when omitted). */
  dec(...args: UpdateArgs<L, [value?: number]>): void {
    const [labels, value] = splitArgs<L>(args, 1);
    this.state(labels).value -= value;
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
