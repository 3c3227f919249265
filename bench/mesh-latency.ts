/**
 * What the mesh client adds to a call, plain and with mutual TLS: `node bench/mesh-latency.ts`
 * (or `npm run bench:mesh`), about 70 s.
 *
 * One node:http upstream runs in a child process, so that its CPU is not the client's, on two
 * ports of 127.0.0.1: plaintext, and behind the workload TLS terminator (`WorkloadTls.createServer`,
 * as an instance under `mtls: strict` has it), which refuses a client without a certificate of the
 * run's CA. Four clients in this process call it: undici's `Pool.request` straight to each port, and
 * `mesh.request()` with a static table (`mtls: disable`, then `strict` with a certificate and the
 * trust bundle). The clients take turns in short rounds, so that whatever else the machine does
 * hits them all alike, and each round compares the mesh with undici measured next to it:
 *
 * - latency: one call in flight, p50 and p99 per client and round; added = mesh - direct;
 * - CPU: each client at 1000 calls/s (open loop), this process's CPU time (`process.cpuUsage`, all
 *   threads) per second. A row with the same timer and no call shows what the loop itself costs.
 *
 * Prints the figures and the verdict against the goal of issue #4; it does not write RESULTS.md.
 * `--only=mesh,mesh-mtls` runs just those clients, for a profile (`node --cpu-prof ...`).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { checkServerIdentity, createMeshClient, peerIdentity, WorkloadTls } from '@flotilla/mesh';
import { createTestCa, testCertificate } from '@flotilla/mesh/testing';
import {
  DEFAULT_RESILIENCE,
  type MeshTable,
  PLAINTEXT_MESH,
  type RoutingTable,
  serviceRoutesOf,
  type WorkloadIdentity,
} from '@flotilla/spec';
import { Pool } from 'undici';
import { percentile } from './lib/latency.ts';
import { othersCpu, snapshotCpu } from './lib/other-cpu.ts';

const SYSTEM = 'bench';
const SERVICE = 's';
const BODY = 'hello from the mesh upstream\n';
/** Longer than the whole run: no connection is closed for idling while the other clients take their turn. */
const KEEP_ALIVE_MS = 300_000;
const LATENCY = { warmupCalls: 3_000, rounds: 12, callsPerRound: 2_000, discardPerRound: 100 };
/**
 * At 1000/s with sub-millisecond answers about one call is in flight; 100 means the machine stalled
 * for 100 ms (the cores are shared). Arrivals beyond are dropped and counted rather than piled up
 * until the mesh's circuit breaker refuses them.
 */
const RATE = { perS: 1_000, rounds: 3, warmupMs: 500, durationMs: 3_000, maxInFlight: 100 };
/** Issue #4: added latency per call. */
const GOAL = { p50Ms: 0.1, p99Ms: 0.3 };

type ClientName = 'direct' | 'mesh' | 'direct-mtls' | 'mesh-mtls';
const LABELS: Record<ClientName | 'harness', string> = {
  direct: 'a. undici Pool.request, plain',
  mesh: 'b. mesh.request, mtls disable',
  'direct-mtls': 'c. undici Pool.request, mTLS',
  'mesh-mtls': 'd. mesh.request, mtls strict',
  harness: 'the timer alone (no call)',
};
const PAIRS = [
  { name: 'plain', direct: 'direct', mesh: 'mesh' },
  { name: 'mTLS', direct: 'direct-mtls', mesh: 'mesh-mtls' },
] as const;

interface Client {
  name: ClientName | 'harness';
  call(): Promise<void>;
  close(): Promise<void>;
}

interface Material {
  root: string;
  server: { key: string; cert: string };
}

/** A root and a leaf per identity, as the control plane's CA issues them (P-256, URI SAN). */
async function issueCertificates(identities: WorkloadIdentity[]) {
  const ca = await createTestCa('mesh-latency bench CA');
  const leaves = await Promise.all(identities.map((identity) => testCertificate(ca, identity)));
  return { root: ca.root, leaves };
}

/** Child mode: the upstream, plaintext and behind the TLS terminator; sends its two ports. */
async function serve(): Promise<void> {
  process.once('disconnect', () => process.exit(0));
  const [{ root, server }] = (await once(process, 'message')) as [Material];
  const bundle = [root];
  const http = createServer((req, res) => {
    // The terminator verified the chain; a runtime would also authorise the workload it names.
    const socket = req.socket as TLSSocket;
    if (socket.encrypted && peerIdentity(socket) === undefined) res.writeHead(403).end();
    else res.end(BODY);
  });
  http.keepAliveTimeout = KEEP_ALIVE_MS;
  const tls = new WorkloadTls({ current: () => server, trustBundle: () => bundle }).createServer();
  tls.on('secureConnection', (socket: TLSSocket) => http.emit('connection', socket));
  http.listen(0, '127.0.0.1');
  tls.listen(0, '127.0.0.1');
  await Promise.all([once(http, 'listening'), once(tls, 'listening')]);
  const port = (s: { address(): unknown }) => (s.address() as AddressInfo).port;
  process.send!({ plain: port(http), tls: port(tls) });
}

function tableFor(port: number, mesh: MeshTable): RoutingTable {
  return {
    revision: 1,
    system: SYSTEM,
    services: {
      [SERVICE]: serviceRoutesOf({
        versions: { v1: { weight: 100, labels: {} } },
        endpoints: [{ id: `${SERVICE}-0`, service: SERVICE, version: 'v1', host: '127.0.0.1', port }],
      }),
    },
    gateway: { listen: { host: '127.0.0.1', port: 0 }, replicas: 1, plugins: {}, routes: [] },
    mesh,
  };
}

function expectOk(name: string, status: number, bytes: number): void {
  if (status !== 200 || bytes !== BODY.length) throw new Error(`${name} got ${status} with ${bytes} bytes`);
}

/** The four clients, plus the harness row; each call checks status and body length. */
function clients(ports: { plain: number; tls: number }, root: string, pair: Material['server']): Client[] {
  const connections = DEFAULT_RESILIENCE.circuitBreaker.maxConnectionsPerEndpoint;
  const direct = (name: ClientName, pool: Pool): Client => ({
    name,
    async call() {
      const { statusCode, body } = await pool.request({ method: 'GET', path: '/' });
      expectOk(name, statusCode, (await body.arrayBuffer()).byteLength);
    },
    close: () => pool.close(),
  });
  const mesh = (name: ClientName, port: number, table: MeshTable, withCertificate: boolean): Client => {
    const certificate = withCertificate ? { current: () => pair, onRenew: () => () => {} } : undefined;
    const client = createMeshClient({
      source: { workload: SYSTEM, version: 'v1' },
      table: tableFor(port, table),
      certificate,
    });
    return {
      name,
      async call() {
        const response = await client.request({ service: SERVICE, path: '/' });
        expectOk(name, response.statusCode, response.body.length);
      },
      close: () => client.close(),
    };
  };
  const tlsConnect = {
    key: pair.key,
    cert: pair.cert,
    ca: [root],
    minVersion: 'TLSv1.3' as const,
    checkServerIdentity: checkServerIdentity(SERVICE, SYSTEM),
  };
  return [
    direct('direct', new Pool(`http://127.0.0.1:${ports.plain}`, { connections })),
    mesh('mesh', ports.plain, PLAINTEXT_MESH, false),
    direct('direct-mtls', new Pool(`https://127.0.0.1:${ports.tls}`, { connections, connect: tlsConnect })),
    mesh('mesh-mtls', ports.tls, { mtls: 'strict', versionAffinity: false, trustBundle: [root] }, true),
    { name: 'harness', call: () => Promise.resolve(), close: () => Promise.resolve() },
  ];
}

/** Throws unless the terminator refuses a client that presents no certificate. */
async function expectRefusedWithoutCertificate(port: number, root: string): Promise<void> {
  const pool = new Pool(`https://127.0.0.1:${port}`, {
    connect: { ca: [root], checkServerIdentity: checkServerIdentity(SERVICE, SYSTEM) },
  });
  const answer = await pool
    .request({ method: 'GET', path: '/', headersTimeout: 2_000 })
    .then(async ({ statusCode, body }) => `${statusCode} ${await body.text()}`)
    .catch(() => null);
  await pool.destroy();
  if (answer !== null) throw new Error(`the TLS upstream answered a client without a certificate: ${answer}`);
}

/** Rotates the clients so that none always runs right after the same other one. */
const rotated = <T>(list: T[], by: number) => list.map((_, i) => list[(i + by) % list.length]!);

async function closedLoop(client: Client, calls: number, into?: Float64Array): Promise<void> {
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await client.call();
    if (into !== undefined) into[i] = performance.now() - started;
  }
}

interface RateRound {
  cpuMsPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** Arrivals not sent because `maxInFlight` calls were waiting already. */
  dropped: number;
}

/**
 * Calls at a fixed rate whatever the answers do (open loop), from a 1 ms timer that catches up on
 * the calls due since its last run. Latency is timed from when a call was sent.
 */
async function atRate(client: Client): Promise<RateRound> {
  const t0 = performance.now();
  const start = t0 + RATE.warmupMs;
  const end = start + RATE.durationMs;
  const latencies: number[] = [];
  let sent = 0;
  let inFlight = 0;
  let dropped = 0;
  let failure: Error | undefined;
  const send = () => {
    const at = performance.now();
    if (inFlight >= RATE.maxInFlight) {
      dropped++;
      return;
    }
    inFlight++;
    client.call().then(
      () => {
        inFlight--;
        if (at >= start && at < end) latencies.push(performance.now() - at);
      },
      (error: Error) => {
        inFlight--;
        failure = error;
      },
    );
  };
  const { cpu, wallMs } = await new Promise<{ cpu: NodeJS.CpuUsage; wallMs: number }>((resolve) => {
    let cpuAtStart: NodeJS.CpuUsage | undefined;
    let wallAtStart = 0;
    const tick = () => {
      const now = performance.now();
      if (cpuAtStart === undefined && now >= start) {
        cpuAtStart = process.cpuUsage();
        wallAtStart = now;
      }
      if (now >= end) return resolve({ cpu: process.cpuUsage(cpuAtStart), wallMs: now - wallAtStart });
      const due = Math.floor(((now - t0) * RATE.perS) / 1_000);
      for (; sent < due; sent++) send();
      setTimeout(tick, 1);
    };
    tick();
  });
  while (inFlight > 0) await sleep(1);
  if (failure !== undefined) throw failure;
  const sorted = Float64Array.from(latencies).sort();
  return {
    cpuMsPerS: (cpu.user + cpu.system) / 1_000 / (wallMs / 1_000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    dropped,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** A difference with its sign. */
const plus = (x: number, digits: number) => {
  const rounded = x.toFixed(digits);
  return Number(rounded) > 0 ? `+${rounded}` : Number(rounded) < 0 ? rounded : (0).toFixed(digits);
};
/** A figure as the median of its rounds, with the lowest and highest round. */
const spread = (xs: number[], digits: number, unit: string, format = (x: number) => x.toFixed(digits)) =>
  `${format(median(xs))} ${unit} (${format(Math.min(...xs))} to ${format(Math.max(...xs))})`;
const signed = (xs: number[], digits: number, unit: string) =>
  spread(xs, digits, unit, (x) => plus(x, digits));

interface LatencyRounds {
  p50: number[];
  p99: number[];
  /** CPU time of this process per call, in microseconds. */
  cpuUs: number[];
}

/** Closed loop, one call in flight: each client in turn for a round, in rotated order. */
async function measureLatency(callers: Client[]): Promise<Map<string, LatencyRounds>> {
  for (const c of callers) await closedLoop(c, LATENCY.warmupCalls);
  const rounds = new Map(callers.map((c) => [c.name, { p50: [], p99: [], cpuUs: [] } as LatencyRounds]));
  for (let round = 0; round < LATENCY.rounds; round++) {
    for (const c of rotated(callers, round)) {
      const samples = new Float64Array(LATENCY.callsPerRound);
      await closedLoop(c, LATENCY.discardPerRound);
      const cpuBefore = process.cpuUsage();
      await closedLoop(c, LATENCY.callsPerRound, samples);
      const cpu = process.cpuUsage(cpuBefore);
      samples.sort();
      const r = rounds.get(c.name)!;
      r.p50.push(percentile(samples, 50));
      r.p99.push(percentile(samples, 99));
      r.cpuUs.push((cpu.user + cpu.system) / LATENCY.callsPerRound);
    }
  }
  return rounds;
}

/** Open loop at RATE.perS: each client (and the bare loop) in turn for a round, in rotated order. */
async function measureCpu(all: Client[]): Promise<Map<string, RateRound[]>> {
  const rounds = new Map(all.map((c) => [c.name, [] as RateRound[]]));
  for (let round = 0; round < RATE.rounds; round++) {
    for (const c of rotated(all, round)) rounds.get(c.name)!.push(await atRate(c));
  }
  return rounds;
}

/** Runs `step`, returning what it returns and the CPUs other processes on the machine used meanwhile. */
async function withOthersCpu<T>(step: () => Promise<T>): Promise<[T, number]> {
  const before = snapshotCpu();
  const startedAt = performance.now();
  const result = await step();
  return [result, othersCpu(before, snapshotCpu(), (performance.now() - startedAt) / 1_000)];
}

/** Prints both tables and the verdict; every figure is the median of its rounds, with their range. */
function report(all: Client[], latency: Map<string, LatencyRounds>, rate: Map<string, RateRound[]>): void {
  console.log('\nmedian of the rounds (lowest to highest round)');
  console.log(
    '| client | p50, 1 in flight | p99, 1 in flight | CPU per call, 1 in flight | CPU at 1000 calls/s | p50 at 1000/s | p99 at 1000/s |',
  );
  console.log('|---|--:|--:|--:|--:|--:|--:|');
  for (const c of all) {
    const l = latency.get(c.name);
    const r = rate.get(c.name)!;
    const cells = [
      l ? spread(l.p50, 3, 'ms') : '',
      l ? spread(l.p99, 3, 'ms') : '',
      l ? spread(l.cpuUs, 1, 'µs') : '',
      spread(
        r.map((x) => x.cpuMsPerS),
        1,
        'ms/s',
      ),
      l ? `${median(r.map((x) => x.p50Ms)).toFixed(3)} ms` : '',
      l ? `${median(r.map((x) => x.p99Ms)).toFixed(3)} ms` : '',
    ];
    console.log(`| ${LABELS[c.name]} | ${cells.join(' | ')} |`);
  }
  const pairs = PAIRS.filter((p) => latency.has(p.direct) && latency.has(p.mesh));
  if (pairs.length === 0) return;
  console.log('\nadded by the mesh: mesh - undici of the same round');
  console.log(
    '| | added p50 | added p99 | added CPU per call, 1 in flight | added CPU per 1000 requests/s |',
  );
  console.log('|---|--:|--:|--:|--:|');
  const verdicts: string[] = [];
  for (const p of pairs) {
    const d = latency.get(p.direct)!;
    const m = latency.get(p.mesh)!;
    const added50 = m.p50.map((x, i) => x - d.p50[i]!);
    const added99 = m.p99.map((x, i) => x - d.p99[i]!);
    const addedCpuUs = m.cpuUs.map((x, i) => x - d.cpuUs[i]!);
    const rd = rate.get(p.direct)!;
    const addedCpu = rate.get(p.mesh)!.map((x, i) => x.cpuMsPerS - rd[i]!.cpuMsPerS);
    const ofCore = `${(median(addedCpu) / 10).toFixed(1)}% of a core`;
    console.log(
      `| ${p.name} | ${signed(added50, 3, 'ms')} | ${signed(added99, 3, 'ms')} | ${signed(addedCpuUs, 1, 'µs')} | ${signed(addedCpu, 1, 'ms/s')} (${ofCore}) |`,
    );
    const missed = [
      median(added50) > GOAL.p50Ms ? 'p50' : '',
      median(added99) > GOAL.p99Ms ? 'p99' : '',
    ].filter(Boolean);
    verdicts.push(
      `${p.name} ${plus(median(added50), 3)}/${plus(median(added99), 3)} ms ` +
        `(${missed.length === 0 ? 'met' : `not met: ${missed.join(', ')}`})`,
    );
  }
  console.log(
    `verdict (goal: <= ${GOAL.p50Ms} ms p50, <= ${GOAL.p99Ms} ms p99 added): ${verdicts.join('; ')}`,
  );
}

async function main(): Promise<void> {
  const only = process.argv
    .find((arg) => arg.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',');
  const server: WorkloadIdentity = { system: SYSTEM, service: SERVICE, version: 'v1' };
  const caller: WorkloadIdentity = { system: SYSTEM, service: SYSTEM, version: 'v1' };
  const { root, leaves } = await issueCertificates([server, caller]);
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['serve']);
  try {
    child.send({ root, server: leaves[0]! } satisfies Material);
    const [ports] = (await once(child, 'message')) as [{ plain: number; tls: number }];
    await expectRefusedWithoutCertificate(ports.tls, root);
    const all = clients(ports, root, leaves[1]!).filter((c) => only === undefined || only.includes(c.name));
    const undici = JSON.parse(
      readFileSync(new URL('../node_modules/undici/package.json', import.meta.url), 'utf8'),
    );
    console.log(
      `machine: ${availableParallelism()} CPUs, ${cpus()[0]?.model ?? 'unknown'}; Node ${process.version}, ` +
        `undici ${undici.version}; load average (1 min) ${loadavg()[0]!.toFixed(2)}`,
    );
    console.log(
      `latency: 1 call in flight, ${LATENCY.rounds} rounds of ${LATENCY.callsPerRound} calls per client (after ${LATENCY.warmupCalls} discarded)`,
    );
    const [latency, latencyOthers] = await withOthersCpu(() =>
      measureLatency(all.filter((c) => c.name !== 'harness')),
    );
    console.log(
      `CPU: ${RATE.perS} calls/s open loop, ${RATE.rounds} rounds of ${RATE.durationMs / 1_000} s per client (after ${RATE.warmupMs / 1_000} s each)`,
    );
    const [rate, rateOthers] = await withOthersCpu(() => measureCpu(all));
    await Promise.all(all.map((c) => c.close()));
    report(all, latency, rate);
    const dropped = all
      .map((c) => [LABELS[c.name], rate.get(c.name)!.reduce((sum, r) => sum + r.dropped, 0)] as const)
      .filter(([, n]) => n > 0);
    if (dropped.length > 0) {
      console.log(
        `arrivals dropped at ${RATE.maxInFlight} in flight (the machine stalled): ${dropped.map(([l, n]) => `${l} ${n}`).join(', ')}`,
      );
    }
    console.log(
      `other processes used ${latencyOthers.toFixed(2)} CPUs during the latency rounds, ${rateOthers.toFixed(2)} during the CPU rounds`,
    );
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill();
      await once(child, 'exit');
    }
  }
}

if (process.argv[2] === 'serve') await serve();
else await main();
