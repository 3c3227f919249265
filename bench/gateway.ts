/**
 * Gateway benchmark: the same upstream measured directly, behind nginx, behind HAProxy and behind
 * the Flotilla gateway (plain, and with JWT + rate limit), with the same wrk settings, in one run
 * on one machine; then `flotilla up` timed three times. Adds a dated section to bench/RESULTS.md.
 *
 *   node bench/gateway.ts      (or: npm run bench)
 */
import { accessSync, chmodSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startControlPlane } from '@flotilla/control-plane';
import type { SystemStatus } from '@flotilla/control-plane/types';
import { parseSpec, type SystemSpecInput } from '@flotilla/spec';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { copyExample, timeUp, type UpRun } from './lib/flotilla-up.ts';
import { othersCpu, snapshotCpu } from './lib/other-cpu.ts';
import { cleanUp, installSignalHandlers, onCleanup, stopChild } from './lib/processes.ts';
import { startHaproxy, startNginx } from './lib/proxies.ts';
import {
  BUSY_OTHERS_CPU,
  describeMachine,
  prependSection,
  type Report,
  renderSection,
  type TargetResult,
} from './lib/results.ts';
import { runWrk, WRK, wrkArgs } from './lib/wrk.ts';

const BENCH_DIR = import.meta.dirname;
const ROOT = resolve(BENCH_DIR, '..');
const RESULTS_FILE = join(BENCH_DIR, 'RESULTS.md');
const HELLO_SPEC = 'examples/hello/flotilla.yaml';
const UP_RUNS = 3;
/** A one-minute load average above this before the run means the machine is not idle. */
const BUSY_LOAD = 0.5;
/** What bench/upstream answers on `/`; every target must return exactly this. */
const UPSTREAM_BODY = 'hello from the bench upstream\n';
const JWT = { issuer: 'https://bench.flotilla.local', audience: 'flotilla-bench', kid: 'bench-es256' };
/** Debian package of each tool the benchmark runs. */
const TOOLS = { wrk: 'wrk', nginx: 'nginx-light', haproxy: 'haproxy' } as const;

interface Target {
  result: TargetResult;
  url: string;
  headers: Record<string, string>;
}

/** Tools not found on PATH (nor in the sbin directories a non-root PATH may lack). */
function missingTools(): (keyof typeof TOOLS)[] {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  const found = (name: string) =>
    dirs.some((dir) => {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  const missing = (Object.keys(TOOLS) as (keyof typeof TOOLS)[]).filter((name) => !found(name));
  if (missing.length === 0 && !(process.env.PATH ?? '').split(delimiter).includes('/usr/sbin')) {
    process.env.PATH = `${process.env.PATH}${delimiter}/usr/sbin${delimiter}/sbin`;
  }
  return missing;
}

/** A fresh ES256 key pair, its public JWK for the spec, and a token signed with it. */
async function signingSetup() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: JWT.kid, alg: 'ES256', use: 'sig' };
  const token = await new SignJWT({ scope: 'bench' })
    .setProtectedHeader({ alg: 'ES256', kid: JWT.kid })
    .setSubject('bench')
    .setIssuer(JWT.issuer)
    .setAudience(JWT.audience)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  return { jwk, token };
}

/** The benchmark system: the upstream behind `/plain` (no plugins) and `/secure` (JWT + rate limit). */
function benchSpec(jwk: Record<string, unknown>): SystemSpecInput {
  return {
    name: 'bench',
    controlPlane: { port: 0 },
    gateway: {
      listen: { port: 0 },
      routes: [
        { name: 'plain', match: { pathPrefix: '/plain' }, service: 'upstream', stripPrefix: true },
        {
          name: 'secure',
          match: { pathPrefix: '/secure' },
          service: 'upstream',
          stripPrefix: true,
          plugins: {
            jwt: { keys: [jwk], issuer: JWT.issuer, audience: JWT.audience, algorithms: ['ES256'] },
            // Large enough that the whole run never drains the bucket: this measures the check, not refusals.
            rateLimit: { capacity: 1_000_000_000, refillPerSecond: 1_000_000_000, store: 'memory' },
          },
        },
      ],
    },
    services: { upstream: { path: join(BENCH_DIR, 'upstream'), replicas: 1 } },
  };
}

/** Throws unless `url` answers 200 with the upstream's body, retrying for `withinMs` while routes settle. */
async function expectUpstreamBody(url: string, headers: Record<string, string>, withinMs = 10_000) {
  const deadline = Date.now() + withinMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(2_000) });
      const body = await res.text();
      if (res.status === 200 && body === UPSTREAM_BODY) return;
      last = `answered ${res.status}: ${body.slice(0, 200)}`;
    } catch (error) {
      last = `request failed: ${(error as Error).message}`;
    }
    await sleep(250);
  }
  throw new Error(`GET ${url} ${last}`);
}

/** The upstream instance's port once the control plane reports it ready. */
async function upstreamPort(status: () => SystemStatus) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const instance = status()
      .services.find((s) => s.name === 'upstream')
      ?.instances.find((i) => i.state === 'ready');
    if (instance) return instance.port;
    await sleep(200);
  }
  throw new Error(`the upstream instance is not ready after 30 s: ${JSON.stringify(status().services)}`);
}

async function measure(targets: Target[]): Promise<void> {
  for (let round = 1; round <= 2; round++) {
    for (const { result, url, headers } of targets) {
      if (result.error) continue;
      try {
        await runWrk(url, headers, WRK.warmupS);
        const before = snapshotCpu();
        const startMs = performance.now();
        const wrk = await runWrk(url, headers, WRK.durationS);
        const r = {
          ...wrk,
          othersCpu: othersCpu(before, snapshotCpu(), (performance.now() - startMs) / 1_000),
        };
        result.rounds.push(r);
        const others =
          r.othersCpu >= BUSY_OTHERS_CPU ? `  (other processes used ${r.othersCpu.toFixed(2)} CPU)` : '';
        const errors =
          r.non2xx + r.socketErrors > 0 ? `  (non-2xx ${r.non2xx}, socket errors ${r.socketErrors})` : '';
        console.log(
          `  round ${round}  ${result.label.padEnd(34)} ${Math.round(r.requestsPerS).toString().padStart(6)} req/s` +
            `  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms${errors}${others}`,
        );
      } catch (error) {
        result.error = (error as Error).message;
        console.error(`  round ${round}  ${result.label}: ${result.error}`);
      }
    }
  }
}

async function timeFlotillaUp(): Promise<Report['up']> {
  if (!existsSync(join(ROOT, HELLO_SPEC))) return `${HELLO_SPEC} does not exist`;
  if (!existsSync(join(ROOT, 'packages/cli/src/main.ts'))) return 'packages/cli/src/main.ts does not exist';
  const specFile = copyExample(join(ROOT, dirname(HELLO_SPEC)), ROOT);
  onCleanup(async () => rmSync(dirname(dirname(specFile)), { recursive: true, force: true }));
  const runs: UpRun[] = [];
  for (let i = 1; i <= UP_RUNS; i++) {
    const run = await timeUp(specFile, ROOT);
    runs.push(run);
    console.log(
      run.error
        ? `  flotilla up, run ${i}: ${run.error}`
        : `  flotilla up, run ${i}: ready in ${run.reportedS} s (wall ${run.wallS!.toFixed(2)} s)${run.failedToStart ? `; ${run.failedToStart}` : ''}`,
    );
  }
  return { file: HELLO_SPEC, runs };
}

async function main(): Promise<number> {
  installSignalHandlers();
  const missing = missingTools();
  if (missing.length > 0) {
    console.error(
      `missing: ${missing.join(', ')}. Install with:\n  sudo apt-get install -y ${missing.map((t) => TOOLS[t]).join(' ')}`,
    );
    return 1;
  }
  const machine = describeMachine();
  if (machine.loadAtStart > BUSY_LOAD) {
    console.warn(
      `warning: load average ${machine.loadAtStart.toFixed(2)}: something else is using the CPUs, ` +
        'the figures will be low and noisy',
    );
  }
  const work = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
  // nginx workers drop to an unprivileged user when started as root; they must reach their temp path.
  chmodSync(work, 0o755);
  onCleanup(async () => rmSync(work, { recursive: true, force: true }));
  const problems: string[] = [];

  console.log('starting the benchmark system (control plane, gateway, upstream)');
  const { jwk, token } = await signingSetup();
  const spec = parseSpec(JSON.stringify(benchSpec(jwk)), {
    dir: work,
    file: join(work, 'flotilla.yaml'),
    checkFiles: true,
  });
  const system = await startControlPlane({
    spec,
    adminPort: 0,
    gatewayPort: 0,
    // Instances inherit this level: at warn the gateway writes no access log, like nginx and HAProxy here.
    log: pino({ level: 'warn' }, pino.destination({ fd: 2, sync: true })),
    onProgress: (message) => console.log(`  ${message}`),
  });
  onCleanup(() => system.stop());
  if (system.failed.length > 0) problems.push(`control plane reported failures: ${system.failed.join('; ')}`);

  const port = await upstreamPort(() => system.status());
  const nginx = await startNginx(port, work);
  onCleanup(() => stopChild(nginx.child));
  const haproxy = await startHaproxy(port, work);
  onCleanup(() => stopChild(haproxy.child));

  const auth = { authorization: `Bearer ${token}` };
  const target = (key: TargetResult['key'], label: string, url: string, headers = {}): Target => ({
    result: { key, label, rounds: [], error: null },
    url,
    headers,
  });
  const targets = [
    target('direct', 'upstream direct', `http://127.0.0.1:${port}/`),
    target('nginx', 'nginx proxy_pass', nginx.url),
    target('haproxy', 'HAProxy', haproxy.url),
    target('plain', 'gateway /plain', new URL('/plain', system.gatewayUrl).href),
    target('secure', 'gateway /secure (JWT + rate limit)', new URL('/secure', system.gatewayUrl).href, auth),
  ];
  for (const t of targets) {
    try {
      await expectUpstreamBody(t.url, t.headers);
    } catch (error) {
      t.result.error = `not measured: ${(error as Error).message}`;
      console.error(`  ${t.result.label}: ${t.result.error}`);
    }
  }
  const secure = targets.at(-1)!;
  const anonymous = await fetch(secure.url).catch((error: Error) => error);
  if (anonymous instanceof Error || anonymous.status !== 401) {
    const got = anonymous instanceof Error ? anonymous.message : `${anonymous.status}`;
    problems.push(`/secure without a token answered ${got}, expected 401: the JWT plugin may not be active`);
  } else {
    await anonymous.arrayBuffer();
  }

  console.log(`measuring: ${WRK.warmupS} s warm-up + ${WRK.durationS} s per target, two rounds`);
  await measure(targets);
  await cleanUp();

  console.log(`timing flotilla up (${UP_RUNS} runs)`);
  const up = await timeFlotillaUp();
  if (typeof up === 'string') console.log(`  skipped: ${up}`);

  const report: Report = {
    date: new Date(),
    machine,
    command: 'node bench/gateway.ts',
    wrkCommand: `wrk ${wrkArgs('<url>', {}, WRK.durationS).join(' ')}`,
    targets: targets.map((t) => t.result),
    up,
    problems,
  };
  const section = renderSection(report);
  prependSection(RESULTS_FILE, section);
  console.log(`\n${section}\nwritten to ${RESULTS_FILE}`);
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`benchmark failed: ${(error as Error).stack ?? error}`);
} finally {
  await cleanUp();
}
process.exit(code);
