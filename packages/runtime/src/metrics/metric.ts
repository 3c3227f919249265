import { RuntimeError } from '../errors.ts';
import { escapeHelp, escapeLabelValue } from './format.ts';

/** Label values of one series, keyed by the label names fixed when the metric was created. */
export type LabelValues<L extends string> = { readonly [K in L]: string | number };

/** What every metric kind shares with its creator. */
export interface MetricOptions<L extends string> {
  /** Metric name: letters, digits, `_` and `:`, not starting with a digit. */
  name: string;
  help: string;
  /** Label names, fixed for the life of the metric. */
  labelNames?: readonly L[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * One metric family and its series. Series are found by their label values joined with NUL,
 * which no sensible label value contains, and keep their label text rendered once, so that an
 * update costs one string join and one map lookup, and a scrape costs no escaping.
 */
export abstract class Metric<L extends string, S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected readonly series = new Map<string, { labels: string; state: S }>();

  constructor(options: MetricOptions<L>) {
    if (!METRIC_NAME.test(options.name)) {
      throw new RuntimeError('FLOTILLA_METRIC_INVALID', `Metric name "${options.name}" is not valid`);
    }
    const labelNames = options.labelNames ?? [];
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__')) {
        throw new RuntimeError(
          'FLOTILLA_METRIC_INVALID',
          `Label name "${label}" of metric ${options.name} is not valid`,
        );
      }
    }
    if (new Set(labelNames).size !== labelNames.length) {
      throw new RuntimeError('FLOTILLA_METRIC_INVALID', `Metric ${options.name} repeats a label name`);
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = Object.freeze([...labelNames]);
  }

  /** A fresh state for a new series. */
  protected abstract initial(): S;

  /** Sample lines of every series, without HELP and TYPE. */
  protected abstract samples(): string;

  /** The state of the series with these label values, created on first use. */
  protected state(labels: LabelValues<L> | undefined): S {
    let key = '';
    if (labels) for (const name of this.labelNames) key += `${labels[name]}\u0000`;
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels: this.renderLabels(labels), state: this.initial() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  /** The family in the text exposition format. */
  expose(): string {
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n${this.samples()}`;
  }

  private renderLabels(labels: LabelValues<L> | undefined): string {
    if (!labels) return '';
    return this.labelNames.map((name) => `${name}="${escapeLabelValue(String(labels[name]))}"`).join(',');
  }
}

/** The arguments of an update: label values first when the metric has labels, then the value. */
export type UpdateArgs<L extends string, V extends [value?: number] | [value: number]> = [L] extends [never]
  ? V
  : [labels: LabelValues<L>, ...V];

/** Splits update arguments into label values and value. */
export function splitArgs<L extends string>(
  args: readonly unknown[],
  fallback: number,
): [LabelValues<L> | undefined, number] {
  if (typeof args[0] === 'object' && args[0] !== null) {
    return [args[0] as LabelValues<L>, (args[1] as number | undefined) ?? fallback];
  }
  return [undefined, (args[0] as number | undefined) ?? fallback];
}
