import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { RUNTIME_DEFAULTS } from '../defaults.ts';
import type { Registry } from './registry.ts';

/**
 * Registers the process metrics (CPU, memory, heap, start time, event-loop lag) in `registry`
 * and starts the event-loop delay monitor. Values are read at scrape time, so they cost nothing
 * between scrapes. Returns a function that stops the monitor.
 */
export function collectProcessMetrics(registry: Registry): () => void {
  const cpuUser = registry.counter({
    name: 'process_cpu_user_seconds_total',
    help: 'User CPU time spent in seconds.',
  });
  const cpuSystem = registry.counter({
    name: 'process_cpu_system_seconds_total',
    help: 'System CPU time spent in seconds.',
  });
  const rss = registry.gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
  });
  const heapUsed = registry.gauge({ name: 'nodejs_heap_used_bytes', help: 'V8 heap in use, in bytes.' });
  const startTime = registry.gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since the Unix epoch, in seconds.',
  });
  const lag = registry.gauge({
    name: 'nodejs_eventloop_lag_p99_seconds',
    help: '99th percentile of the event-loop delay since the previous scrape, in seconds.',
  });
  startTime.set(Math.round(performance.timeOrigin) / 1000);

  const delay = monitorEventLoopDelay({ resolution: RUNTIME_DEFAULTS.eventLoopResolutionMs });
  delay.enable();
  // Counted from zero so the counters carry the CPU spent before registration too.
  let last = { user: 0, system: 0 };
  registry.onCollect(() => {
    const cpu = process.cpuUsage();
    cpuUser.inc((cpu.user - last.user) / 1e6);
    cpuSystem.inc((cpu.system - last.system) / 1e6);
    last = cpu;
    rss.set(process.memoryUsage.rss());
    heapUsed.set(process.memoryUsage().heapUsed);
    // With no sample yet the histogram reports a meaningless percentile; keep the last value.
    if (delay.count > 0) {
      lag.set(delay.percentile(99) / 1e9);
      delay.reset();
    }
  });
  return () => delay.disable();
}
