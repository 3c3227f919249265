/**
 * Compares the mesh's balancers in one run: `node bench/mesh-balancer.ts`.
 *
 * Three local instances run in a child process (so the client keeps its own core); in the skewed
 * scenario one of them answers 20 ms late. A fixed number of callers loop on `request()` through a
 * mesh client with a static table, and the run reports requests per second, p50 and p99 latency, and
 * each instance's share of the calls. The default balancer is the one that wins here.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type BalancerKind, createMeshClient } from '@flotilla/mesh';
import { PLAINTEXT_MESH, type RoutingTable, serviceRoutesOf } from '@flotilla/spec';

const CONCURRENCY = 32;
const WARMUP_MS = 1_000;
const MEASURE_MS = 4_000;
const SLOW_DELAY_MS = 20;

const SCENARIOS: { name: string; delaysMs: number[] }[] = [
  { name: 'equal latency', delaysMs: [0, 0, 0] },
  { name: `one instance ${SLOW_DELAY_MS} ms slower`, delaysMs: [0, 0, SLOW_DELAY_MS] },
];
const BALANCERS: BalancerKind[] = ['least-request', 'round-robin'];

/** Child mode: serve one instance per delay and report the ports to the parent. */
async function serve(delaysMs: number[]): Promise<void> {
  const ports: number[] = [];
  for (const delayMs of delaysMs) {
    const server = createServer((_req, res) => {
      if (delayMs === 0) res.end('ok');
      else setTimeout(() => res.end('ok'), delayMs);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    ports.push((server.address() as AddressInfo).port);
  }
  process.send!(ports);
}

async function startInstances(delaysMs: number[]): Promise<{ child: ChildProcess; ports: number[] }> {
  const child = fork(fileURLToPath(import.meta.url), ['serve', delaysMs.join(',')]);
  const [ports] = (await once(child, 'message')) as [number[]];
  return { child, ports };
}

function tableFor(ports: number[]): RoutingTable {
  return {
    revision: 1,
    system: 'bench',
    services: {
      s: serviceRoutesOf({
        versions: { v1: { weight: 100, labels: {} } },
        endpoints: ports.map((port, i) => ({
          id: `s-${i}`,
          service: 's',
          version: 'v1',
          host: '127.0.0.1',
          port,
        })),
      }),
    },
    gateway: { listen: { host: '127.0.0.1', port: 0 }, replicas: 1, plugins: {}, routes: [] },
    mesh: PLAINTEXT_MESH,
  };
}

interface Result {
  requestsPerS: number;
  p50Ms: number;
  p99Ms: number;
  shares: string;
}

async function measure(balancer: BalancerKind, table: RoutingTable): Promise<Result> {
  const mesh = createMeshClient({ source: { workload: 'bench', version: 'v1' }, table, balancer });
  const latencies: number[] = [];
  const byEndpoint = new Map<string, number>();
  let recording = false;
  let running = true;
  const caller = async () => {
    while (running) {
      const started = performance.now();
      const response = await mesh.request({ service: 's', path: '/' });
      if (recording) {
        latencies.push(performance.now() - started);
        byEndpoint.set(response.endpoint.id, (byEndpoint.get(response.endpoint.id) ?? 0) + 1);
      }
    }
  };
  const callers = Promise.all(Array.from({ length: CONCURRENCY }, caller));
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  recording = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, MEASURE_MS));
  recording = false;
  const elapsedS = (performance.now() - started) / 1000;
  running = false;
  await callers;
  await mesh.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  const shares = [...byEndpoint.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, count]) => `${id} ${((100 * count) / latencies.length).toFixed(1)}%`)
    .join(', ');
  return { requestsPerS: latencies.length / elapsedS, p50Ms: at(0.5), p99Ms: at(0.99), shares };
}

async function main(): Promise<void> {
  console.log(
    `mesh balancers: ${CONCURRENCY} callers, ${MEASURE_MS / 1000} s per measurement after ${WARMUP_MS / 1000} s warm-up`,
  );
  for (const scenario of SCENARIOS) {
    const { child, ports } = await startInstances(scenario.delaysMs);
    console.log(`\n${scenario.name} (delays ${scenario.delaysMs.join('/')} ms)`);
    for (const balancer of BALANCERS) {
      const r = await measure(balancer, tableFor(ports));
      console.log(
        `  ${balancer.padEnd(14)} ${r.requestsPerS.toFixed(0).padStart(6)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  [${r.shares}]`,
      );
    }
    child.kill();
    await once(child, 'exit');
  }
}

if (process.argv[2] === 'serve') await serve(process.argv[3]!.split(',').map(Number));
else await main();
