import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { parse, stringify } from 'yaml';
import { repoRoot } from './support.ts';

export const exampleDir = join(repoRoot, 'examples/version-chain');

/** The answer of a request that stayed on one version in all three services. */
export function chainOf(version: string): string {
  return `Microservice A ${version} -> Microservice B ${version} -> Microservice C ${version}`;
}

/** How the example keeps a request on one version from hop to hop. */
export type VersionRouting = 'version-affinity' | 'source-labels';

/** What a test changes in the example's spec. */
export interface VersionChainOverrides {
  /** `version-affinity` is the spec as shipped; `source-labels` swaps it for README.md's rules. */
  routing: VersionRouting;
  /** Versions of a service, replacing the shipped ones (`{ b: ['v1'] }`: b runs v1 only). */
  versions?: Record<string, string[]>;
}

interface ChainSpec {
  name: string;
  mesh?: { versionAffinity?: boolean };
  services: Record<string, Record<string, unknown> & { path: string; versions: Record<string, unknown> }>;
}

/**
 * The example exactly as `examples/version-chain/flotilla.yaml` ships it, with a unique name,
 * absolute service paths and the test's overrides. Probes stay at their defaults: a readiness
 * timeout short enough to speed start-up takes the single b out of traffic on a busy machine. For `source-labels`, affinity is
 * off and b and c get the rules README.md shows: a call from version X of the caller goes to
 * subset X.
 */
export function versionChainSpec(system: string, overrides: VersionChainOverrides): string {
  const spec = parse(readFileSync(join(exampleDir, 'flotilla.yaml'), 'utf8')) as ChainSpec;
  spec.name = system;
  for (const [name, service] of Object.entries(spec.services)) {
    service.path = join(exampleDir, service.path);
    const versions = overrides.versions?.[name];
    if (versions) service.versions = Object.fromEntries(versions.map((v) => [v, {}]));
  }
  if (overrides.routing === 'source-labels') {
    spec.mesh = { ...spec.mesh, versionAffinity: false };
    const { a, b, c } = spec.services;
    b!.traffic = sameVersionAs('a', Object.keys(a!.versions));
    c!.traffic = sameVersionAs('b', Object.keys(b!.versions));
  }
  return stringify(spec);
}

/** Istio's VirtualService rules of the seed: calls from `caller` at version X go to subset X. */
function sameVersionAs(caller: string, versions: string[]): unknown[] {
  return versions.map((version) => ({
    name: `from-${caller}-${version}`,
    match: { sourceLabels: { app: caller, version } },
    route: [{ subset: version }],
  }));
}

/** One response of the gateway, as the assertions need it. */
export interface ChainAnswer {
  status: number;
  body: string;
  contentType: string | undefined;
  /** `x-flotilla-version-fallback`, when the response has it. */
  fallback: string | undefined;
}

/** How sendMany sends. */
export interface SendOptions {
  total: number;
  /** Requests in flight at once, each on a keep-alive connection of its own. */
  concurrency: number;
  headers?: Record<string, string>;
  /** Bound of each request. @default 5000 */
  timeoutMs?: number;
  /** Bound of the whole run: requests not sent by then are not sent at all. @default 45000 */
  budgetMs?: number;
}

/**
 * Sends `total` GETs to `url`, `concurrency` at a time over keep-alive connections. A request that
 * fails without a response counts as status 0 with the error as body; one the budget left unsent
 * is missing from the answers.
 */
export async function sendMany(url: string, options: SendOptions): Promise<ChainAnswer[]> {
  const { total, concurrency, headers = {}, timeoutMs = 5_000, budgetMs = 45_000 } = options;
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  const budget = AbortSignal.timeout(budgetMs);
  const answers: ChainAnswer[] = [];
  let sent = 0;
  const client = async () => {
    while (sent < total && !budget.aborted) {
      sent++;
      try {
        const res = await request(url, {
          dispatcher: agent,
          headers,
          signal: budget,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        const fallback = res.headers['x-flotilla-version-fallback'];
        const contentType = res.headers['content-type'];
        answers.push({
          status: res.statusCode,
          body: await res.body.text(),
          contentType: Array.isArray(contentType) ? contentType.join(', ') : contentType,
          fallback: Array.isArray(fallback) ? fallback.join(',') : fallback,
        });
      } catch (error) {
        answers.push({ status: 0, body: String(error), contentType: undefined, fallback: undefined });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, client));
  } finally {
    await agent.close();
  }
  return answers;
}

/** How many times each distinct value occurs, most frequent first. */
export function tally(values: readonly string[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return Object.fromEntries([...counts].sort((x, y) => y[1] - x[1]));
}

/**
 * The counts a fair split lets through: of `n` draws with probability `p` each, the whole numbers
 * within `sigmas` standard deviations of the mean. At 4 sigmas a correct split fails about once in
 * 16,000 runs.
 */
export function binomialBounds(n: number, p: number, sigmas: number): { min: number; max: number } {
  const mean = n * p;
  const spread = sigmas * Math.sqrt(n * p * (1 - p));
  return { min: Math.max(0, Math.ceil(mean - spread)), max: Math.min(n, Math.floor(mean + spread)) };
}
