import { describe, expect, it } from 'vitest';
import { collectProcessMetrics, Registry } from './index.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the text format 0.0.4: every line must be a comment or a well-formed sample. */
function parseExposition(text: string): {
  help: Map<string, string>;
  types: Map<string, string>;
  samples: Sample[];
} {
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (comment) {
      const [, kind, name, rest] = comment as unknown as [string, string, string, string];
      if (kind === 'HELP')
        help.set(
          name,
          rest.replace(/\\(n|\\)/g, (_, c) => (c === 'n' ? '\n' : '\\')),
        );
      else types.set(name, rest);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = sample[2] ?? '';
    const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
    let at = 0;
    while (at < body.length) {
      pair.lastIndex = at;
      const m = pair.exec(body);
      if (!m) throw new Error(`bad labels: ${body}`);
      labels[m[1]!] = m[2]!.replace(/\\(n|\\|")/g, (_, c) => (c === 'n' ? '\n' : c));
      at = pair.lastIndex;
    }
    const raw = sample[3]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`bad value: ${raw}`);
    samples.push({ name: sample[1]!, labels, value });
  }
  return { help, types, samples };
}

describe('Registry', () => {
  it('exposes counters and gauges with HELP, TYPE and one line per label set', () => {
    const registry = new Registry();
    const requests = registry.counter({
      name: 'jobs_total',
      help: 'Jobs done.',
      labelNames: ['queue', 'code'],
    });
    const depth = registry.gauge({ name: 'queue_depth', help: 'Jobs waiting.' });
    requests.inc({ queue: 'mail', code: 200 });
    requests.inc({ queue: 'mail', code: 200 }, 2);
    requests.inc({ queue: 'sms', code: 500 });
    depth.set(7);
    depth.dec(2);

    const { help, types, samples } = parseExposition(registry.expose());
    expect(help.get('jobs_total')).toBe('Jobs done.');
    expect(types.get('jobs_total')).toBe('counter');
    expect(types.get('queue_depth')).toBe('gauge');
    expect(samples).toEqual([
      { name: 'jobs_total', labels: { queue: 'mail', code: '200' }, value: 3 },
      { name: 'jobs_total', labels: { queue: 'sms', code: '500' }, value: 1 },
      { name: 'queue_depth', labels: {}, value: 5 },
    ]);
  });

  it('escapes backslashes, quotes and newlines in label values and help so they parse back unchanged', () => {
    const registry = new Registry();
    const c = registry.counter({
      name: 'odd_total',
      help: 'Back\\slash and\nnewline "quoted".',
      labelNames: ['v'],
    });
    const tricky = 'a\\b "c"\nd';
    c.inc({ v: tricky });
    const { help, samples } = parseExposition(registry.expose());
    expect(help.get('odd_total')).toBe('Back\\slash and\nnewline "quoted".');
    expect(samples[0]?.labels.v).toBe(tricky);
  });

  it('exposes histograms as cumulative buckets ending in +Inf, with sum and count', () => {
    const registry = new Registry();
    const h = registry.histogram({
      name: 'latency_seconds',
      help: 'Latency.',
      labelNames: ['route'],
      buckets: [0.1, 0.5, 1],
    });
    for (const v of [0.05, 0.1, 0.3, 2]) h.observe({ route: '/a' }, v);

    const { types, samples } = parseExposition(registry.expose());
    expect(types.get('latency_seconds')).toBe('histogram');
    const buckets = samples.filter((s) => s.name === 'latency_seconds_bucket');
    expect(buckets.map((s) => [s.labels.le, s.value])).toEqual([
      ['0.1', 2],
      ['0.5', 3],
      ['1', 3],
      ['+Inf', 4],
    ]);
    expect(buckets.every((s) => s.labels.route === '/a')).toBe(true);
    expect(samples.find((s) => s.name === 'latency_seconds_sum')?.value).toBeCloseTo(2.45);
    expect(samples.find((s) => s.name === 'latency_seconds_count')?.value).toBe(4);
  });

  it('updates through a series found once with labels() the same series as updates that pass the labels', () => {
    const registry = new Registry();
    const c = registry.counter({ name: 'hits_total', help: 'Hits.', labelNames: ['route'] });
    const h = registry.histogram({ name: 'took_ms', help: 'Took.', labelNames: ['route'], buckets: [1] });
    const hits = c.labels({ route: '/a' });
    const took = h.labels({ route: '/a' });
    hits.inc();
    hits.inc(2);
    c.inc({ route: '/a' });
    took.observe(0.5);
    h.observe({ route: '/a' }, 3);

    const { samples } = parseExposition(registry.expose());
    expect(samples.filter((s) => s.name === 'hits_total')).toEqual([
      { name: 'hits_total', labels: { route: '/a' }, value: 4 },
    ]);
    expect(samples.find((s) => s.name === 'took_ms_bucket' && s.labels.le === '1')?.value).toBe(1);
    expect(samples.find((s) => s.name === 'took_ms_count')?.value).toBe(2);
    expect(() => hits.inc(-1)).toThrow(/cannot go down/);
  });

  it('refuses bad names, a repeated metric, a histogram label "le", unordered buckets and a counter going down', () => {
    const registry = new Registry();
    const c = registry.counter({ name: 'ok_total', help: 'x' });
    expect(() => registry.counter({ name: 'ok_total', help: 'x' })).toThrow(/already registered/);
    expect(() => registry.counter({ name: '1bad', help: 'x' })).toThrow(/not valid/);
    expect(() => registry.gauge({ name: 'g', help: 'x', labelNames: ['__reserved'] })).toThrow(/not valid/);
    expect(() => registry.histogram({ name: 'h', help: 'x', labelNames: ['le'], buckets: [1] })).toThrow(
      /"le"/,
    );
    expect(() => registry.histogram({ name: 'h2', help: 'x', buckets: [1, 1] })).toThrow(/increasing/);
    expect(() => c.inc(-1)).toThrow(/cannot go down/);
  });

  it('reports process CPU, memory, heap, start time and event-loop lag, refreshed at each scrape', async () => {
    const registry = new Registry();
    const stop = collectProcessMetrics(registry);
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const first = parseExposition(registry.expose()).samples;
      const value = (name: string) => first.find((s) => s.name === name)?.value;
      expect(value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
      expect(value('process_cpu_system_seconds_total')).toBeGreaterThanOrEqual(0);
      expect(value('process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
      expect(value('nodejs_heap_used_bytes')).toBeGreaterThan(1_000_000);
      expect(Math.abs(value('process_start_time_seconds')! - Date.now() / 1000)).toBeLessThan(3600);
      expect(value('nodejs_eventloop_lag_p99_seconds')).toBeGreaterThan(0);

      const spinUntil = performance.now() + 30;
      while (performance.now() < spinUntil);
      const second = parseExposition(registry.expose()).samples;
      expect(second.find((s) => s.name === 'process_cpu_user_seconds_total')!.value).toBeGreaterThan(
        value('process_cpu_user_seconds_total')!,
      );
    } finally {
      stop();
    }
  });
});
