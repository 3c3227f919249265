/** Runs wrk with the one set of settings every target gets, and reads its report. */
import { spawnOwned } from './processes.ts';

/** The load every target gets; the warm-up is a separate, discarded run just before the measured one. */
export const WRK = { threads: 2, connections: 50, durationS: 10, warmupS: 2 } as const;

export interface WrkResult {
  requestsPerS: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** wrk's "Non-2xx or 3xx responses"; 0 when the line is absent. */
  non2xx: number;
  /** Connect, read, write and timeout errors added up; 0 when the line is absent. */
  socketErrors: number;
}

/** wrk's arguments for a run of `durationS` seconds against `url`. */
export function wrkArgs(url: string, headers: Record<string, string>, durationS: number): string[] {
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  return [`-t${WRK.threads}`, `-c${WRK.connections}`, `-d${durationS}s`, '--latency', ...headerArgs, url];
}

/** Runs wrk and parses its report; rejects with wrk's own output when it fails. */
export async function runWrk(
  url: string,
  headers: Record<string, string>,
  durationS: number,
): Promise<WrkResult> {
  const child = spawnOwned('wrk', wrkArgs(url, headers, durationS));
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${out.trim()}`);
  return parseWrk(out);
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Reads requests/s, p50, p99 and error counts from wrk's `--latency` report. */
export function parseWrk(text: string): WrkResult {
  const number = (pattern: RegExp, what: string): number => {
    const match = pattern.exec(text);
    if (!match) throw new Error(`no ${what} in wrk's output:\n${text}`);
    return Number(match[1]);
  };
  const latency = (percent: number): number => {
    const match = new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
    if (!match) throw new Error(`no ${percent}% latency in wrk's output:\n${text}`);
    return Number(match[1]) * UNIT_MS[match[2]!]!;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requestsPerS: number(/^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec'),
    p50Ms: latency(50),
    p99Ms: latency(99),
    requests: number(/(\d+) requests in /, 'request count'),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0),
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}
