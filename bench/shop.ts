/**
 * The shop's order flow through the gateway under a steady load: token issuance, search and order
 * each alone, then the flow mixed in a closed and an open loop; then checks that every order the
 * shop answered 201 for was really paid, charged once, taken from stock and mailed. Adds a dated
 * section to bench/RESULTS.md.
 *
 *   node bench/shop.ts      (or: npm run bench:shop)
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { closedLoop, type Iteration, type LoopResult, openLoop, type WindowHooks } from './lib/load-loop.ts';
import { sampleConnections } from './lib/postgres-connections.ts';
import { type CpuBreakdown, cpuWindow, OTHERS, shopRoles } from './lib/process-cpu.ts';
import { cleanUp, installSignalHandlers, onCleanup } from './lib/processes.ts';
import { describeMachine, prependSection } from './lib/results.ts';
import { ShopApi } from './lib/shop-api.ts';
import { createCatalogue, OrderTally, registerCustomers, ShopFlow } from './lib/shop-flow.ts';
import { overall, type PhaseReport, renderShopSection, type ShopReport } from './lib/shop-results.ts';
import { SPEC_CHANGES, startShop } from './lib/shop-system.ts';
import { backlog, drain, verify } from './lib/shop-verify.ts';

const BENCH_DIR = import.meta.dirname;
const ROOT = resolve(BENCH_DIR, '..');
const RESULTS_FILE = join(BENCH_DIR, 'RESULTS.md');
/** A one-minute load average above this before the run means the machine is not idle. */
const BUSY_LOAD = 0.5;

/** Everything a run does, in one place: under 5 minutes in all, most of it the phases and the drain. */
const PLAN = {
  customers: 100,
  /** Registrations at once during set-up (each is an argon2id hash and a verification). */
  setupParallel: 8,
  /** The mix signs a customer in again every this many of its iterations. */
  tokenEvery: 50,
  /** Sign-in is CPU-bound in argon2id: more users only queue behind the hashes. */
  token: { concurrency: 8, warmupS: 3, durationS: 15 },
  search: { concurrency: 32, warmupS: 3, durationS: 15 },
  order: { concurrency: 32, warmupS: 3, durationS: 20 },
  mixClosed: { concurrency: 32, warmupS: 5, durationS: 30 },
  /** The open loop's arrival rate, as a fraction of the iterations/s the closed loop achieved. */
  mixOpen: { rateOfClosed: 0.8, warmupS: 5, durationS: 30, maxInFlight: 2_000 },
  /** Longest wait for the events and notifications still in flight once the load stops. */
  drainTimeoutS: 120,
  /** Connections of the generator's pool to the gateway; the open loop may need many. */
  connections: 512,
} as const;

/**
 * The commit the shop ran from, and the paths outside bench/ with uncommitted changes: this
 * checkout is shared, and the services may change between two runs.
 */
function revision(): string {
  const git = (...args: string[]) =>
    spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git('rev-parse', '--short', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain', '--', '.', ':!bench')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(3));
  return dirty.length === 0 ? commit : `${commit} with uncommitted changes to ${dirty.join(', ')}`;
}

function summary(label: string, loop: LoopResult, cpu: CpuBreakdown): string {
  const all = overall(loop);
  const others = cpu.roles.find((r) => r.role === OTHERS)?.cpus ?? 0;
  return (
    `  ${label.padEnd(24)} ${Math.round(loop.requestsPerS).toString().padStart(6)} req/s  p50 ${all.p50Ms.toFixed(1)} ms` +
    `  p95 ${all.p95Ms.toFixed(1)} ms  p99 ${all.p99Ms.toFixed(1)} ms  errors ${all.errors + loop.dropped}` +
    `  (others used ${others.toFixed(2)} CPU)`
  );
}

async function main(): Promise<number> {
  installSignalHandlers();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      signalled = true;
    });
  }
  // processes.ts SIGKILLs `flotilla up` on exit, which leaves its instances and PostgreSQL running:
  // an error outside main's own chain must stop the shop the graceful way too.
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    process.on(event, (error) => {
      console.error(`benchmark failed: ${(error as Error)?.stack ?? error}`);
      if (!signalled) void cleanUp().finally(() => process.exit(1));
    });
  }
  const machine = describeMachine();
  const startedFrom = revision();
  const problems: string[] = [];
  if (machine.loadAtStart > BUSY_LOAD) {
    console.warn(
      `warning: load average ${machine.loadAtStart.toFixed(2)}: something else is using the CPUs, ` +
        'the figures will be low and noisy',
    );
    problems.push(`load average ${machine.loadAtStart.toFixed(2)} before the run: the machine was not idle`);
  }

  console.log('starting the shop with flotilla up');
  const shop = await startShop(ROOT);
  console.log(`  ready in ${shop.readyS} s: gateway ${shop.gatewayUrl}`);
  const api = new ShopApi(shop.gatewayUrl, PLAN.connections);
  onCleanup(() => api.close());

  console.log(`setting up: products, ${PLAN.customers} customers`);
  const admin = await api.token('admin@shop.local', shop.adminPassword);
  if (!admin.body) throw new Error(`the admin could not sign in: ${admin.errorKind}`);
  const products = await createCatalogue(api, admin.body.access_token, shop.system);
  const customers = await registerCustomers(api, PLAN.customers, PLAN.setupParallel, PLAN.tokenEvery);
  const statusAtStart = await shop.status();
  const roleOf = shopRoles(statusAtStart, shop.system, join(shop.dir, '.flotilla'));
  const tally = new OrderTally();
  const flow = new ShopFlow(api, customers, products, tally);

  const phases: PhaseReport[] = [];
  const phase = async (
    label: string,
    load: string,
    run: (hooks: WindowHooks) => Promise<LoopResult>,
  ): Promise<PhaseReport> => {
    let window: ReturnType<typeof cpuWindow> | undefined;
    let cpu: CpuBreakdown | undefined;
    const loop = await run({
      onStart: () => {
        window = cpuWindow(roleOf);
      },
      onEnd: () => {
        cpu = window?.stop();
      },
    });
    const report = { label, load, loop, cpu: cpu!, backlogAfter: await backlog(shop) };
    phases.push(report);
    console.log(summary(label, loop, report.cpu));
    return report;
  };
  const closed =
    (iteration: Iteration, p: { concurrency: number; warmupS: number; durationS: number }) =>
    (hooks: WindowHooks) =>
      closedLoop({ ...p, iteration, hooks });

  console.log('measuring (each phase after a discarded warm-up)');
  const connections = await sampleConnections(shop);
  await phase(
    'a. token alone',
    `closed, ${PLAN.token.concurrency} users`,
    closed(flow.tokenOnly, PLAN.token),
  );
  await phase(
    'b. search alone',
    `closed, ${PLAN.search.concurrency} users`,
    closed(flow.searchOnly, PLAN.search),
  );
  await phase(
    'c. order alone',
    `closed, ${PLAN.order.concurrency} users`,
    closed(flow.orderOnly, PLAN.order),
  );
  const mix = flow.mix(PLAN.tokenEvery);
  const mixClosed = await phase(
    'd1. mix, closed loop',
    `closed, ${PLAN.mixClosed.concurrency} users`,
    closed(mix, PLAN.mixClosed),
  );
  const closedRate = mixClosed.loop.iterations / mixClosed.loop.durationS;
  const ratePerS = Math.max(1, Math.round(closedRate * PLAN.mixOpen.rateOfClosed));
  await phase('d2. mix, open loop', `open, ${ratePerS} iterations/s`, (hooks) =>
    openLoop({ ...PLAN.mixOpen, ratePerS, users: customers.length, iteration: mix, hooks }),
  );

  const connectionPeak = connections.stop();
  console.log(
    `  PostgreSQL client connections: peak ${connectionPeak.peak} of max_connections ${connectionPeak.maxConnections}`,
  );
  console.log(`waiting up to ${PLAN.drainTimeoutS} s for events and notifications still in flight`);
  const drained = await drain(shop, PLAN.drainTimeoutS);
  console.log(
    `  ${drained.done ? 'empty' : 'not empty'} after ${drained.waitedS.toFixed(0)} s; ` +
      `receipts delivered at ${drained.receiptsPerS.toFixed(1)}/s`,
  );
  console.log('checking what the shop did');
  const checks = await verify(
    shop,
    tally,
    products,
    customers.map((c) => c.id),
    statusAtStart,
    drained.done,
  );
  for (const c of checks) console.log(`  ${c.ok ? 'ok' : 'FAILED'}: ${c.name}: ${c.detail}`);

  const report: ShopReport = {
    date: new Date(),
    machine,
    command: 'node bench/shop.ts',
    revision: startedFrom,
    readyS: shop.readyS,
    specChanges: SPEC_CHANGES,
    customers: customers.length,
    products: products.length,
    tokenEvery: PLAN.tokenEvery,
    phases,
    mixClosed: phases.indexOf(mixClosed),
    mixOpen: phases.length - 1,
    connections: connectionPeak,
    drain: drained,
    drainTimeoutS: PLAN.drainTimeoutS,
    checks,
    problems,
  };
  const section = renderShopSection(report);
  prependSection(RESULTS_FILE, section);
  console.log(`\n${section}\nwritten to ${RESULTS_FILE}`);
  return checks.every((c) => c.ok) ? 0 : 1;
}

/**
 * Set on Ctrl-C or SIGTERM, when processes.ts stops everything and exits by itself. Nothing here
 * may race it: a second clean-up would signal `flotilla up` a second time, which makes it exit at
 * once and leave its instances behind.
 */
let signalled = false;

let code = 1;
try {
  code = await main();
} catch (error) {
  if (!signalled) console.error(`benchmark failed: ${(error as Error).stack ?? error}`);
}
if (!signalled) {
  await cleanUp();
  process.exit(code);
}
