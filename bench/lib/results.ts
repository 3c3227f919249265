/** The machine a run happened on, and the dated section it adds to the top of RESULTS.md. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import type { UpRun } from './flotilla-up.ts';
import type { WrkResult } from './wrk.ts';

export interface Machine {
  cpus: number;
  model: string;
  memoryGiB: number;
  /** One-minute load average when the run began: anything well above 0 means someone else was busy. */
  loadAtStart: number;
  node: string;
  nginx: string;
  haproxy: string;
  wrk: string;
}

/** One measured wrk run, with the CPUs other processes on the machine used meanwhile. */
export interface Round extends WrkResult {
  othersCpu: number;
}

export interface TargetResult {
  key: 'direct' | 'nginx' | 'haproxy' | 'plain' | 'secure';
  label: string;
  rounds: Round[];
  /** Why the target was not (fully) measured; null when it was. */
  error: string | null;
}

export interface UpTiming {
  file: string;
  runs: UpRun[];
}

export interface Report {
  date: Date;
  machine: Machine;
  command: string;
  wrkCommand: string;
  targets: TargetResult[];
  up: UpTiming | string;
  problems: string[];
}

/** CPUs used by other processes during a round above which the round counts as disturbed. */
export const BUSY_OTHERS_CPU = 0.1;

/** Goals from the issue. */
export const GOALS = { plainRatio: 0.75, secureRatio: 0.6, upS: 3 } as const;

/** What this machine is, from /proc, os and the tools' own version flags. */
export function describeMachine(): Machine {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const version = (command: string, args: string[], pattern: RegExp): string => {
    const run = spawnSync(command, args, { encoding: 'utf8' });
    const match = pattern.exec(`${run.stdout ?? ''}${run.stderr ?? ''}`);
    return match?.[1]?.trim() ?? 'unknown';
  };
  return {
    cpus: availableParallelism(),
    model: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memoryGiB: totalmem() / 2 ** 30,
    loadAtStart: loadavg()[0]!,
    node: process.version,
    nginx: version('nginx', ['-v'], /nginx version: nginx\/(\S+)/),
    haproxy: version('haproxy', ['-v'], /HAProxy version (\S+)/),
    wrk: version('wrk', ['-v'], /^wrk (\S+)/m),
  };
}

/** The round with the most requests/s, or null when none ran. */
export function best(target: TargetResult | undefined): Round | null {
  if (!target || target.rounds.length === 0) return null;
  return target.rounds.reduce((a, b) => (b.requestsPerS > a.requestsPerS ? b : a));
}

/** Requests/s of `key` over nginx's, or null when either is missing. */
export function ratioToNginx(report: Report, key: TargetResult['key']): number | null {
  const find = (k: TargetResult['key']) => best(report.targets.find((t) => t.key === k));
  const nginx = find('nginx');
  const target = find(key);
  return nginx && target ? target.requestsPerS / nginx.requestsPerS : null;
}

const rps = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms`;
const times = (r: number | null) => (r === null ? 'n/a' : `${r.toFixed(2)}x`);
const verdict = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? 'met' : 'not met');

/** The Markdown section of one run. */
export function renderSection(report: Report): string {
  const { machine: m } = report;
  const date = report.date.toISOString().replace('T', ' ').slice(0, 16);
  const lines: string[] = [
    `## ${date} UTC`,
    '',
    `Machine: ${m.cpus} CPUs (nproc), ${m.model}, ${m.memoryGiB.toFixed(1)} GiB memory; Node ${m.node}, ` +
      `nginx ${m.nginx}, HAProxy ${m.haproxy}, wrk ${m.wrk}. Load average (1 min) before the run: ` +
      `${m.loadAtStart.toFixed(2)}.`,
    '',
    `Command: \`${report.command}\`. Each target gets \`${report.wrkCommand}\` after a discarded ` +
      'warm-up run of the same for 2 s; `/secure` adds `-H "Authorization: Bearer <ES256 token>"`. ' +
      'The targets run in the order below, twice (A B C D E, A B C D E); each row shows the round with ' +
      'more requests/s, with p50 and p99 from that same round.',
    '',
    '| target | requests/s | p50 | p99 | ratio to nginx | rounds: requests/s (CPUs used by others) |',
    '|---|--:|--:|--:|--:|---|',
  ];
  for (const target of report.targets) {
    const b = best(target);
    const rounds = target.rounds.map((r) => `${rps(r.requestsPerS)} (${r.othersCpu.toFixed(2)})`).join(', ');
    lines.push(
      b
        ? `| ${target.label} | ${rps(b.requestsPerS)} | ${ms(b.p50Ms)} | ${ms(b.p99Ms)} | ${times(ratioToNginx(report, target.key))} | ${rounds} |`
        : `| ${target.label} | not measured | | | | |`,
    );
  }

  const plain = ratioToNginx(report, 'plain');
  const secure = ratioToNginx(report, 'secure');
  const up = typeof report.up === 'string' ? null : report.up;
  const later = up ? up.runs.slice(1).map((r) => r.reportedS) : [];
  const upOk =
    later.length === 0 || later.some((s) => s === null) ? null : later.every((s) => s! < GOALS.upS);
  lines.push(
    '',
    '| goal | measured | |',
    '|---|---|---|',
    `| gateway plain routing >= ${GOALS.plainRatio}x nginx requests/s | ${times(plain)} | ${verdict(plain === null ? null : plain >= GOALS.plainRatio)} |`,
    `| gateway JWT + rate limit >= ${GOALS.secureRatio}x nginx requests/s | ${times(secure)} | ${verdict(secure === null ? null : secure >= GOALS.secureRatio)} |`,
    `| \`flotilla up\` under ${GOALS.upS} s after the first run | ${later.map((s) => (s === null ? 'failed' : `${s} s`)).join(', ') || 'n/a'} | ${verdict(upOk)} |`,
    '',
  );

  if (up) {
    lines.push(
      `\`flotilla up\` of a copy of \`${up.file}\` in a temporary directory, so that the first run starts ` +
        'from no state (`node packages/cli/src/main.ts up -f <copy>/flotilla.yaml --gateway-port 0 ' +
        '--admin-port 0`, stopped with SIGINT after each run), as the CLI reports it and as wall clock ' +
        'from spawning `node`:',
      '',
    );
    up.runs.forEach((run, i) => {
      const first = i === 0 ? ' (first: no state yet, creates the embedded PostgreSQL)' : '';
      lines.push(
        run.error
          ? `- run ${i + 1}${first}: failed: ${run.error.split('\n')[0]}`
          : `- run ${i + 1}${first}: ready in ${run.reportedS} s (wall ${run.wallS!.toFixed(2)} s)` +
              (run.failedToStart ? `; ${run.failedToStart}` : ''),
      );
    });
    lines.push('');
  } else {
    lines.push(`\`flotilla up\` not timed: ${report.up}`, '');
  }

  const problems = [...report.problems];
  for (const target of report.targets) {
    if (target.error) problems.push(`${target.label}: ${target.error}`);
    target.rounds.forEach((r, i) => {
      if (r.non2xx > 0)
        problems.push(`${target.label}, round ${i + 1}: ${rps(r.non2xx)} non-2xx/3xx responses`);
      if (r.socketErrors > 0)
        problems.push(`${target.label}, round ${i + 1}: ${r.socketErrors} socket errors`);
    });
  }
  const disturbed = report.targets.flatMap((t) => t.rounds).filter((r) => r.othersCpu >= BUSY_OTHERS_CPU);
  if (disturbed.length > 0) {
    problems.push(
      `${disturbed.length} of the measured rounds ran while other processes on the machine used ` +
        `${BUSY_OTHERS_CPU} CPU or more (up to ${Math.max(...disturbed.map((r) => r.othersCpu)).toFixed(2)}): ` +
        'those figures are low and the ratios between targets unreliable',
    );
  }
  if (problems.length > 0) {
    lines.push('Problems seen in this run:', '', ...problems.map((p) => `- ${p.replaceAll('\n', ' ')}`), '');
  }

  const spreads = report.targets
    .filter((t) => t.rounds.length === 2)
    .map((t) => Math.abs(t.rounds[0]!.requestsPerS - t.rounds[1]!.requestsPerS) / best(t)!.requestsPerS);
  const spread = spreads.length ? `${Math.round(Math.max(...spreads) * 100)}%` : 'n/a';
  lines.push(
    'What limits these figures:',
    '',
    `- ${m.cpus} cores shared by everything: wrk's 2 threads, the proxy under test and the single-threaded ` +
      'upstream all compete for them, so a proxy that spends less CPU per request also leaves more to the ' +
      'upstream and to wrk. The direct row is the ceiling of this setup, not of the proxies.',
    '- One process per proxy: nginx `worker_processes 1`, HAProxy `nbthread 1`, the gateway one replica. ' +
      'No access log anywhere: nginx `access_log off`, no HAProxy `log`, and the control plane at `warn`, ' +
      'which its instances inherit, so the gateway writes no access line either. The control plane runs ' +
      'inside the benchmark process during the gateway rounds (probes every second).',
    '- Loopback, no TLS, a 30-byte body: this measures per-request overhead, not bandwidth or real network ' +
      'latency. wrk keeps 50 connections busy (a closed loop), so p50/p99 include queueing in the proxy and ' +
      'the upstream and understate tail latency under an open-loop load.',
    '- `/secure` gets the same token on every request, as wrk cannot vary it: a gateway that caches ' +
      'tokens it has verified checks the ES256 signature once, so this row measures the cached path ' +
      '(plus the JWT claims check and the rate-limit bucket), not a signature per request.',
    `- Noise: the two rounds of one target differed by up to ${spread} in requests/s in this run; ratios ` +
      'closer to a goal than that are within the noise.',
    '',
  );
  return lines.join('\n');
}

const TITLE = `# Benchmark results

Written by \`node bench/gateway.ts\` and \`node bench/shop.ts\` (see [README.md](README.md)), and from what the other scripts of \`bench/\` and the fault tests print; the newest run is first.
`;

/** Puts `section` at the top of the results file, keeping every earlier section below it. */
export function prependSection(file: string, section: string): void {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const at = old.indexOf('\n## ');
  const earlier = at === -1 ? '' : old.slice(at + 1);
  writeFileSync(file, `${TITLE}\n${section}${earlier ? `\n${earlier}` : ''}`);
}
