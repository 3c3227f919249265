/** The dated RESULTS.md section of one run of `bench/shop.ts`. */
import type { OpSummary } from './latency.ts';
import type { LoopResult } from './load-loop.ts';
import type { ConnectionPeak } from './postgres-connections.ts';
import { type CpuBreakdown, OTHERS } from './process-cpu.ts';
import { BUSY_OTHERS_CPU, type Machine } from './results.ts';
import type { Backlog, Check, Drain } from './shop-verify.ts';

/** Goals of the seeds for the order flow. */
export const SHOP_GOALS = { requestsPerS: 1_000, p95Ms: 200, errorRate: 0.001 } as const;

/** A p99 event-loop delay of the generator above this means it measured late. */
const GENERATOR_LAG_MS = 10;

export interface PhaseReport {
  label: string;
  /** What the load was, in words: `closed, 32 users` or `open, 120 iterations/s`. */
  load: string;
  loop: LoopResult;
  cpu: CpuBreakdown;
  backlogAfter: Backlog;
}

export interface ShopReport {
  date: Date;
  machine: Machine;
  command: string;
  /** The commit the shop ran from (see shop.ts). */
  revision: string;
  readyS: number;
  specChanges: string;
  customers: number;
  products: number;
  tokenEvery: number;
  phases: PhaseReport[];
  /** Index in `phases` of the two runs of the mix. */
  mixClosed: number;
  mixOpen: number;
  connections: ConnectionPeak;
  drain: Drain;
  drainTimeoutS: number;
  checks: Check[];
  problems: string[];
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
/** Requests/s: whole numbers, but one decimal below 10 so that a rare operation does not read as 0. */
const rate = (n: number) => (n < 10 ? n.toFixed(1) : int(n));
const ms = (n: number) => (Number.isNaN(n) ? 'n/a' : n < 10 ? `${n.toFixed(1)} ms` : `${int(n)} ms`);
const pct = (n: number) => `${(n * 100).toFixed(n > 0 && n < 0.001 ? 3 : 2)}%`;
const cpu = (n: number) => n.toFixed(2);

/** Errors over requests, counting open-loop arrivals that were dropped as errors. */
export function errorRate(loop: LoopResult): number {
  const all = overall(loop);
  const requests = all.requests + loop.dropped;
  return requests > 0 ? (all.errors + loop.dropped) / requests : 0;
}

/** The `all` summary of a phase, or its only operation's. */
export function overall(loop: LoopResult): OpSummary {
  return loop.ops.all ?? Object.values(loop.ops)[0]!;
}

const othersOf = (b: CpuBreakdown) => b.roles.find((r) => r.role === OTHERS)?.cpus ?? 0;

function backlogText(b: Backlog): string {
  return `outbox ${int(b.outbox)}, bus ${int(b.bus)}, notifications pending ${int(b.pendingNotifications)}`;
}

/** A role's group: the instances of a service together (`orders-v1-2` is `orders`), anything else alone. */
const groupOf = (role: string) => /^(.+)-v\d+-\d+$/.exec(role)?.[1] ?? role;

/** CPUs of each group in a phase. */
function groupCpus(phase: PhaseReport): Map<string, number> {
  const groups = new Map<string, number>();
  for (const { role, cpus } of phase.cpu.roles)
    groups.set(groupOf(role), (groups.get(groupOf(role)) ?? 0) + cpus);
  return groups;
}

/** CPU-ms per iteration (per request, in the single-operation phases) of `cpus` over a phase's window. */
function msPerIteration(phase: PhaseReport, cpus: number): string {
  const { iterations } = phase.loop;
  return iterations > 0 ? ((cpus * phase.cpu.elapsedS * 1_000) / iterations).toFixed(1) : 'n/a';
}

/** The shop's processes: everything but the generator and the rest of the machine. */
const isShop = (group: string) => group !== OTHERS && !group.startsWith('load generator');

/**
 * One row per group: CPUs during both runs of the mix, and CPU-ms per request or iteration in
 * every phase, so that the cost of each operation can be read apart.
 */
function cpuTable(r: ShopReport): string[] {
  const closed = r.phases[r.mixClosed]!;
  const open = r.phases[r.mixOpen]!;
  const byPhase = r.phases.map(groupCpus);
  const names = [...new Set(byPhase.flatMap((g) => [...g.keys()]))];
  const closedCpus = byPhase[r.mixClosed]!;
  names.sort((a, b) => (closedCpus.get(b) ?? 0) - (closedCpus.get(a) ?? 0));
  const replicas = (name: string) => {
    const ids = closed.cpu.roles.filter((x) => groupOf(x.role) === name && x.role !== name);
    return ids.length > 1 ? ` (${ids.length} replicas: ${ids.map((x) => cpu(x.cpus)).join(' + ')})` : '';
  };
  const row = (label: string, cpusIn: (i: number) => number, perIteration: boolean) =>
    `| ${label} | ${cpu(cpusIn(r.mixClosed))} | ${cpu(cpusIn(r.mixOpen))} | ` +
    r.phases.map((p, i) => (perIteration ? msPerIteration(p, cpusIn(i)) : '')).join(' | ') +
    ' |';
  const key = (p: PhaseReport) => p.label.split(' ')[0]!.replace(/\.$/, '');
  // A single-operation phase costs per request of that operation; the mix per iteration.
  const unit = (p: PhaseReport) => {
    const ops = Object.keys(p.loop.ops).filter((op) => op !== 'all');
    return ops.length === 1 ? ops[0]! : 'iteration';
  };
  const used = names.filter((name) => byPhase.some((g) => (g.get(name) ?? 0) >= 0.005));
  return [
    `| process | CPUs (${key(closed)}) | CPUs (${key(open)}) | ` +
      `${r.phases.map((p) => `ms per ${unit(p)} (${key(p)})`).join(' | ')} |`,
    `|---|--:|--:|${r.phases.map(() => '--:').join('|')}|`,
    ...used.map((name) =>
      row(`${name}${replicas(name)}`, (i) => byPhase[i]!.get(name) ?? 0, name !== OTHERS),
    ),
    row(
      '**the shop, all of it**',
      (i) => [...byPhase[i]!].filter(([g]) => isShop(g)).reduce((sum, [, c]) => sum + c, 0),
      true,
    ),
    row('everything on the machine', (i) => r.phases[i]!.cpu.totalCpus, false),
  ];
}

/** The Markdown section of one run. */
export function renderShopSection(r: ShopReport): string {
  const m = r.machine;
  const date = r.date.toISOString().replace('T', ' ').slice(0, 16);
  const closed = r.phases[r.mixClosed]!;
  const open = r.phases[r.mixOpen]!;
  const lines: string[] = [
    `## ${date} UTC: shop order flow (\`bench/shop.ts\`)`,
    '',
    `Machine: ${m.cpus} CPUs (nproc), ${m.model}, ${m.memoryGiB.toFixed(1)} GiB memory; Node ${m.node}. ` +
      `Load average (1 min) before the run: ${m.loadAtStart.toFixed(2)}. The ${m.cpus} cores are shared by ` +
      'the load generator and every process of the shop (gateway, 7 service instances, the control plane, ' +
      'the embedded PostgreSQL), and by whatever else runs on the machine (its CPU is listed per phase).',
    '',
    `Command: \`${r.command}\`, at commit ${r.revision}. The shop of \`flotilla.yaml\` (users ×2, orders ×2, payments ×2, ` +
      `notifications ×1, gateway ×1, PostgreSQL bus, embedded PostgreSQL) started with \`flotilla up\` on ` +
      `free ports in a temporary directory with \`FLOTILLA_LOG_LEVEL=warn\`, ready in ${r.readyS} s. ` +
      `Changed for the benchmark: ${r.specChanges}. ${r.products} products of 1,000,000 units, ` +
      `${r.customers} customers registered and signed in before the load. The load generator is the ` +
      'benchmark process itself (Node, undici, keep-alive); every request goes through the gateway on ' +
      '127.0.0.1. Each phase has a discarded warm-up; a request counts in the phase when it was due inside the ' +
      'measured window. Any status but the expected one (200 token and search, 201 order) and any socket ' +
      'error or 10 s timeout is an error, and errors count among the latencies.',
    '',
    '| phase | load | requests/s | p50 | p95 | p99 | max | errors | CPUs used by others | left in the pipeline after |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|---|',
  ];
  for (const phase of r.phases) {
    const { loop } = phase;
    const all = overall(loop);
    const errors = all.errors + loop.dropped;
    lines.push(
      `| ${phase.label} | ${phase.load}, ${loop.warmupS} s + ${loop.durationS} s | ${rate(loop.requestsPerS)} | ` +
        `${ms(all.p50Ms)} | ${ms(all.p95Ms)} | ${ms(all.p99Ms)} | ${ms(all.maxMs)} | ` +
        `${int(errors)} (${pct(errorRate(loop))}) | ${cpu(othersOf(phase.cpu))} | ${backlogText(phase.backlogAfter)} |`,
    );
    const ops = Object.entries(loop.ops).filter(([op]) => op !== 'all');
    if (ops.length > 1) {
      for (const [op, s] of ops) {
        lines.push(
          `| ↳ ${op} | | ${rate(s.requests / loop.durationS)} | ${ms(s.p50Ms)} | ${ms(s.p95Ms)} | ` +
            `${ms(s.p99Ms)} | ${ms(s.maxMs)} | ${int(s.errors)} | | |`,
        );
      }
    }
  }
  lines.push(
    '',
    `The mix: each iteration is a search, then an order of one of the products found (one unit, a new ` +
      `Idempotency-Key, card 4242), and every ${r.tokenEvery}th iteration of a customer a new token first. ` +
      `Iterations/s: ${int(closed.loop.iterations / closed.loop.durationS)} closed, ` +
      `${int(open.loop.iterations / open.loop.durationS)} open (asked: ${int(open.loop.ratePerS ?? 0)}; ` +
      `${int(open.loop.dropped)} arrivals dropped, at most ${int(open.loop.maxInFlight)} iterations in flight). ` +
      'Closed loop: a fixed number of users, each sending its next request when the last answered, so a slow ' +
      'answer holds back the requests behind it and the latencies look better than a crowd would see them ' +
      '(coordinated omission). Open loop: iterations arrive at a fixed rate, set to 80% of what the closed ' +
      'loop achieved, whatever the shop does, and the first request of each is timed from when it was due. ' +
      `The generator's own event-loop delay (p99) was ${r.phases.map((p) => `${ms(p.loop.generatorLagP99Ms)} (${p.label})`).join(', ')}.`,
    '',
  );

  lines.push('| goal (the seeds) | mix, closed loop | mix, open loop |', '|---|---|---|');
  const goal = (text: (p: PhaseReport) => string, ok: (p: PhaseReport) => boolean) =>
    [closed, open].map((p) => `${text(p)}: ${ok(p) ? 'met' : 'not met'}`).join(' | ');
  lines.push(
    `| more than ${int(SHOP_GOALS.requestsPerS)} requests/s | ${goal(
      (p) => int(p.loop.requestsPerS),
      (p) => p.loop.requestsPerS > SHOP_GOALS.requestsPerS,
    )} |`,
    `| p95 under ${SHOP_GOALS.p95Ms} ms | ${goal(
      (p) => ms(overall(p.loop).p95Ms),
      (p) => overall(p.loop).p95Ms < SHOP_GOALS.p95Ms,
    )} |`,
    `| error rate under ${pct(SHOP_GOALS.errorRate)} | ${goal(
      (p) => pct(errorRate(p.loop)),
      (p) => errorRate(p.loop) < SHOP_GOALS.errorRate,
    )} |`,
    '',
  );

  lines.push(
    'Where the CPU went, from /proc over each measured window (PostgreSQL by the database its backends ' +
      'serve): CPUs during the two runs of the mix, then CPU milliseconds per request (phases a to c) or per ' +
      'iteration of the mix (d1, d2). The asynchronous work behind an order (relay, bus, notifications) runs ' +
      'when it can, so phase c leaves some of it to d1, and d1 to d2 (see the backlog in the first table).',
    '',
    ...cpuTable(r),
    '',
  );
  const c = r.connections;
  lines.push(
    `PostgreSQL client connections, sampled every second during the phases: peak ${c.peak} of ` +
      `max_connections ${c.maxConnections} (${Object.entries(c.byDatabase)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([db, n]) => `${db} ${n}`)
        .join(', ')}; the benchmark's own queries are at most 2 of them on each database).`,
    '',
  );
  const d = r.drain;
  lines.push(
    `After the load: waited ${d.waitedS.toFixed(0)} s (at most ${r.drainTimeoutS} s) for the pipeline to empty: ` +
      `${d.done ? 'it did' : `it did not; left: ${backlogText(d.left)}`}. Receipts were delivered at ` +
      `${d.receiptsPerS.toFixed(1)}/s meanwhile.`,
    '',
    'Checks after the load:',
    '',
    ...r.checks.map((c) => `- ${c.ok ? 'ok' : '**FAILED**'}: ${c.name}: ${c.detail}`),
    '',
  );

  const problems = [...r.problems];
  for (const c of r.checks) if (!c.ok) problems.push(`check failed: ${c.name} (${c.detail})`);
  for (const phase of r.phases) {
    for (const [op, s] of Object.entries(phase.loop.ops)) {
      if (op === 'all') continue;
      for (const [kind, n] of Object.entries(s.errorKinds))
        problems.push(`${phase.label}, ${op}: ${n} × ${kind}`);
    }
    if (phase.loop.dropped > 0) {
      problems.push(`${phase.label}: ${phase.loop.dropped} arrivals dropped (too many iterations in flight)`);
    }
  }
  const disturbed = r.phases.filter((p) => othersOf(p.cpu) >= BUSY_OTHERS_CPU);
  if (disturbed.length > 0) {
    problems.push(
      `in ${disturbed.length} of ${r.phases.length} phases other processes on the machine used ${BUSY_OTHERS_CPU} ` +
        `CPU or more (up to ${cpu(Math.max(...disturbed.map((p) => othersOf(p.cpu))))}): those figures are low`,
    );
  }
  const lagMs = Math.max(...r.phases.map((p) => p.loop.generatorLagP99Ms));
  if (lagMs > GENERATOR_LAG_MS) {
    problems.push(
      `the generator's event loop was up to ${ms(lagMs)} late (p99), while it used well under a core: the ` +
        'CPUs were full, and every latency includes up to that much waiting of the generator itself',
    );
  }
  if (problems.length > 0) lines.push('Problems seen in this run:', '', ...problems.map((p) => `- ${p}`), '');
  lines.push('What limits these figures:', '', ...limits(r).map((l) => `- ${l}`), '');
  lines.push('What would raise throughput:', '', ...raises(r).map((l) => `- ${l}`), '');
  return lines.join('\n');
}

/** Pending notifications after the phase whose label starts with `label`. */
function pending(r: ShopReport, label: string): string {
  const phase = r.phases.find((p) => p.label.startsWith(label));
  return phase ? int(phase.backlogAfter.pendingNotifications) : 'n/a';
}

/** CPU-ms per request of the roles whose name starts with one of `prefixes`, in one phase. */
function cpuMsPerRequest(phase: PhaseReport, prefixes: string[]): number {
  const cpus = phase.cpu.roles
    .filter((r) => prefixes.some((p) => r.role.startsWith(p)))
    .reduce((sum, r) => sum + r.cpus, 0);
  const requests = overall(phase.loop).requests;
  return requests > 0 ? (cpus * phase.cpu.elapsedS * 1_000) / requests : Number.NaN;
}

/** Receipts sent per second between the ends of two phases (labels starting with `from` and `to`). */
function receiptsPerS(r: ShopReport, from: string, to: string): string {
  const a = r.phases.find((p) => p.label.startsWith(from))?.backlogAfter;
  const b = r.phases.find((p) => p.label.startsWith(to))?.backlogAfter;
  return a && b && b.atS > a.atS ? ((b.sentReceipts - a.sentReceipts) / (b.atS - a.atS)).toFixed(1) : 'n/a';
}

/** CPUs of the roles of a phase whose name starts with one of `prefixes`. */
function cpusOf(phase: PhaseReport, ...prefixes: string[]): number {
  return phase.cpu.roles
    .filter((x) => prefixes.some((p) => x.role.startsWith(p)))
    .reduce((sum, x) => sum + x.cpus, 0);
}

/** The bullets of "What limits these figures", from what this run measured. */
function limits(r: ShopReport): string[] {
  const closed = r.phases[r.mixClosed]!;
  const token = r.phases.find((p) => p.label.includes('token'));
  const generator = cpusOf(closed, 'load generator');
  const others = cpusOf(closed, OTHERS);
  const shopCpus = closed.cpu.totalCpus - generator - others;
  const perRequestMs = (shopCpus * closed.cpu.elapsedS * 1_000) / Math.max(1, overall(closed.loop).requests);
  const open = r.phases[r.mixOpen]!;
  const openOrdersPerS = (open.loop.ops.order?.requests ?? 0) / open.loop.durationS;
  const bullets = [
    `${r.machine.cpus} cores for everything. During the closed-loop mix the shop used ${cpu(shopCpus)} CPUs, ` +
      `the load generator ${cpu(generator)} and other processes on the machine ${cpu(others)}: the shop ` +
      `spent ${perRequestMs.toFixed(1)} ms of CPU per request of the mix (gateway, services, PostgreSQL and the ` +
      `asynchronous work behind each order), so ${int(SHOP_GOALS.requestsPerS)} requests/s of this mix would ` +
      `need about ${((perRequestMs * SHOP_GOALS.requestsPerS) / 1_000).toFixed(0)} such cores for the shop ` +
      `alone, and these ${r.machine.cpus}, idle but for the shop, give at most about ` +
      `${int((r.machine.cpus * 1_000) / perRequestMs)} requests/s of it.`,
  ];
  if (token) {
    const tokenMs = cpuMsPerRequest(token, ['users-', 'postgres: users']);
    const share = cpusOf(closed, 'users-', 'postgres: users') / Math.max(shopCpus, 1e-9);
    bullets.push(
      `Token issuance is argon2id-bound by design (m = 19 MiB, t = 2, p = 1, OWASP's minimum): users and its ` +
        `database spent ${tokenMs.toFixed(0)} ms of CPU per sign-in in phase a, so ${r.machine.cpus} cores ` +
        `sign in at most ~${int((r.machine.cpus * 1_000) / tokenMs)} per second, and its latency is queueing ` +
        `behind the hashes (${token.loop.concurrency} users). That is what the hash is for, not a defect. ` +
        `In the mix, one sign-in per ${r.tokenEvery} iterations is ${pct(share)} of the shop's CPU.`,
    );
  }
  bullets.push(
    'An order is about 21 statements from orders to its database, one round trip each: 4 to claim the ' +
      'Idempotency-Key (insert, read, advisory lock, read again), the reserve transaction (7), the order ' +
      'read back (2), the settle transaction (7, reading the order back again) and the unlock; then a mesh ' +
      'call to payments (one transaction there), an outbox row relayed to the bus, consumed by ' +
      'notifications and sent as two notifications (email and push). orders takes one of its 10 pool ' +
      'connections (RUNTIME_DEFAULTS.databasePoolMax) before the key is claimed and holds it across the ' +
      'payments call (its advisory lock is the in-flight marker), so at most 20 orders are in progress in ' +
      'the two orders instances at once, and searches wait for the same pools. On this machine the CPU ' +
      'runs out before that matters.',
    'Notifications are sent one per transaction by a single sender loop in the one notifications instance, ' +
      `each order making two (a receipt and a push). Pending notifications stood at ${pending(r, 'c.')} after ` +
      `phase c, ${pending(r, 'd1.')} after d1 and ${pending(r, 'd2.')} after d2: while the open-loop mix paid ` +
      `${openOrdersPerS.toFixed(0)} orders/s, receipts went out at ${receiptsPerS(r, 'd1.', 'd2.')}/s, and ` +
      `${r.drain.receiptsPerS.toFixed(1)}/s once the load stopped. The loop is bound by its round trips ` +
      '(a claim, an SMTP exchange with the sink, a commit, one after the other), and each waits its turn for ' +
      'a CPU, so it slows down most when the shop is busiest. Working off the backlog also takes CPU from the ' +
      'phases that follow, so the later phases measure the shop while it still digests the earlier ones.',
    `The closed loop keeps ${closed.loop.concurrency} users busy; with the shop saturated, their latencies are ` +
      'mostly time spent queued behind each other. The open loop, at 80% of the rate the closed loop ' +
      'reached, shows what clients arriving on their own see just below saturation, waits included (each ' +
      "iteration is timed from when it was due): its p95 is the one to hold against the seeds' 200 ms. " +
      `Loopback, no TLS, small JSON bodies, ${r.customers} customers; the gateway checks a token's signature ` +
      'once a minute at most and caches the result in between.',
  );
  return bullets;
}

/** The bullets of "What would raise throughput", with this run's figures. */
function raises(r: ShopReport): string[] {
  const closed = r.phases[r.mixClosed]!;
  const ms1 = (cpus: number) => msPerIteration(closed, cpus);
  const search = r.phases.find((p) => p.label.includes('search alone'));
  const searchInMix = closed.loop.ops.search;
  return [
    `Fewer statements per order: orders' database is the largest single item (${ms1(cpusOf(closed, 'postgres: orders'))} ` +
      `ms of CPU per iteration of the closed-loop mix, orders itself ${ms1(cpusOf(closed, 'orders-'))} ms). ` +
      'Claiming the key in one statement (INSERT ... ON CONFLICT ... RETURNING), returning the order from ' +
      'the reserve and settle writes instead of reading it back twice, and named (prepared) statements ' +
      'would cut round trips and parse/plan work on the hottest path.',
    `Cheaper events: the bus database costs ${ms1(cpusOf(closed, 'postgres: bus'))} ms and notifications ` +
      `with its database ${ms1(cpusOf(closed, 'notifications-', 'postgres: notifications'))} ms per iteration; ` +
      'claiming and marking notifications in batches (several rows per SKIP LOCKED claim and commit), or ' +
      'several senders at once, would let delivery keep pace with the orders instead of building a backlog.',
    `More cores, not more replicas: everything here is CPU-bound on ${r.machine.cpus} cores, so more replicas ` +
      'on the same cores only add processes and connections. The mix scales with cores as long as one ' +
      "PostgreSQL keeps up; past that, the services' databases on servers of their own.",
    search && searchInMix
      ? `Searches alone ran at ${int(search.loop.requestsPerS)} requests/s (p50 ${ms(overall(search.loop).p50Ms)}); ` +
        `in the mix their p50 was ${ms(searchInMix.p50Ms)}: they share the CPUs and orders' pools with the ` +
        'orders. A catalogue read path on its own pool (or a read replica, or a cache in front of it) would ' +
        'keep them fast whatever the orders do.'
      : 'Searches share the CPUs and the orders pools with the orders.',
    'Sign-in stays expensive by design; clients should keep their token for its lifetime (900 s) and a ' +
      'refresh-token flow would spare the password hash on renewal.',
  ];
}
