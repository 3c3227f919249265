#!/usr/bin/env node
// Keeps N cores busy for a bounded time, to show the test suite green while the machine is loaded.
// Usage: node scripts/burn-cpu.mjs [--cores N] [--seconds S]
// Defaults: every core, 20 minutes. It stops on its own at the end, on SIGINT or SIGTERM.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, Worker, workerData } from 'node:worker_threads';

if (isMainThread) {
  const { values } = parseArgs({
    options: { cores: { type: 'string' }, seconds: { type: 'string', default: '1200' } },
  });
  const cores = Number(values.cores ?? availableParallelism());
  const seconds = Number(values.seconds);
  if (!Number.isInteger(cores) || cores < 1 || !(seconds > 0)) {
    console.error('usage: node scripts/burn-cpu.mjs [--cores N (>= 1)] [--seconds S (> 0)]');
    process.exit(2);
  }
  const until = Date.now() + seconds * 1000;
  const workers = Array.from(
    { length: cores },
    () => new Worker(new URL(import.meta.url), { workerData: until }),
  );
  const stop = () => {
    for (const w of workers) w.terminate();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.error(`burn-cpu: ${cores} core(s) busy for ${seconds} s (pid ${process.pid})`);
} else {
  // Spin in slices and look at the clock between them, so the bound holds whatever the load.
  let sink = 0;
  while (Date.now() < workerData) {
    for (let i = 0; i < 1e6; i++) sink = (sink * 31 + i) % 1_000_003;
  }
  // Used, so the loop cannot be optimised away.
  if (sink < 0) console.log(sink);
}
