import type { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { parse, stringify } from 'yaml';
import { repoRoot } from './support.ts';

export const fixtureDir = join(repoRoot, 'test/e2e/fixtures/mesh-lab');

/** The three services of the lab, in the order a request goes through them. */
export const SERVICES = ['front', 'middle', 'back'] as const;
export type LabService = (typeof SERVICES)[number];

/** What a test changes in the lab's spec. */
export interface MeshLabOverrides {
  /** `mesh.certificates.ttlMs`; renewal is due at half of it. */
  certificateTtlMs: number;
  /** `mesh.resilience`, merged section by section over the shipped one. */
  resilience?: Record<string, Record<string, unknown>>;
  /** A service's own `resilience`. */
  serviceResilience?: Partial<Record<LabService, Record<string, unknown>>>;
  /** `timeoutMs` of the gateway's route to front. */
  routeTimeoutMs?: number;
}

interface LabSpec {
  name: string;
  gateway: { routes: Record<string, unknown>[] };
  mesh: Record<string, unknown> & { resilience?: Record<string, Record<string, unknown>> };
  services: Record<string, Record<string, unknown> & { path: string }>;
}

/**
 * The lab exactly as `fixtures/mesh-lab/flotilla.yaml` ships it, with a unique name, absolute
 * service paths, `MESH_LAB_DIR` (the directory of back's control files) in every service's env,
 * a short grace period (nothing in the lab needs long to drain) and the test's overrides.
 */
export function meshLabSpec(system: string, labDir: string, overrides: MeshLabOverrides): string {
  const spec = parse(readFileSync(join(fixtureDir, 'flotilla.yaml'), 'utf8')) as LabSpec;
  spec.name = system;
  spec.mesh.certificates = { ttlMs: overrides.certificateTtlMs };
  if (overrides.resilience) spec.mesh.resilience = overrides.resilience;
  if (overrides.routeTimeoutMs !== undefined) {
    for (const route of spec.gateway.routes) route.timeoutMs = overrides.routeTimeoutMs;
  }
  for (const [name, service] of Object.entries(spec.services)) {
    service.path = join(fixtureDir, service.path);
    service.env = { MESH_LAB_DIR: labDir };
    service.terminationGracePeriodMs = 3_000;
    const resilience = overrides.serviceResilience?.[name as LabService];
    if (resilience) service.resilience = resilience;
  }
  return stringify(spec);
}

/** One request of a load: when it started and ended (ms since the epoch), and its answer. */
export interface Answer {
  startedAt: number;
  endedAt: number;
  /** 0 when it failed without a response; the body then holds the error. */
  status: number;
  body: string;
}

/** How an open-loop load sends. */
export interface OpenLoopOptions {
  ratePerS: number;
  durationMs: number;
  /** Bound of each request. @default 5000 */
  timeoutMs?: number;
}

/**
 * Sends GETs to `url` at a fixed rate for `durationMs`, whatever the answers take (an open loop,
 * as real clients arrive), over keep-alive connections, and resolves with every answer once the
 * last one is in. Bounded: `ratePerS * durationMs / 1000` requests, each within `timeoutMs`.
 */
export async function openLoop(url: string, options: OpenLoopOptions): Promise<Answer[]> {
  const { ratePerS, durationMs, timeoutMs = 5_000 } = options;
  const total = Math.floor((ratePerS * durationMs) / 1000);
  const agent = new Agent({ connections: 64, keepAliveTimeout: 10_000 });
  const start = performance.now();
  const sent: Promise<Answer>[] = [];
  try {
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / ratePerS - performance.now();
      if (due > 0) await sleep(due);
      sent.push(get(url, agent, timeoutMs));
    }
    return await Promise.all(sent);
  } finally {
    await agent.close();
  }
}

/** Sends `total` GETs, `concurrency` at a time, each after the previous one of its client answered. */
export async function closedLoop(url: string, total: number, concurrency: number): Promise<Answer[]> {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  const answers: Answer[] = [];
  let sent = 0;
  const client = async () => {
    while (sent < total) {
      sent++;
      answers.push(await get(url, agent, 5_000));
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, client));
  } finally {
    await agent.close();
  }
  return answers;
}

/** One GET; a failure without a response is status 0 with the error as its body. */
export async function get(url: string, dispatcher?: Agent, timeoutMs = 5_000): Promise<Answer> {
  const startedAt = Date.now();
  try {
    const res = await request(url, {
      dispatcher,
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const body = await res.body.text();
    return { startedAt, endedAt: Date.now(), status: res.statusCode, body };
  } catch (error) {
    return { startedAt, endedAt: Date.now(), status: 0, body: String(error) };
  }
}

/** Answers other than 200, by status and error code (or the start of the body), with their counts. */
export function failuresOf(answers: readonly Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const answer of answers) {
    if (answer.status === 200) continue;
    const key = `${answer.status} ${errorCodeOf(answer.body) ?? answer.body.slice(0, 160)}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/**
 * The first few answers other than 200, each with when it started (ms after the first request) and
 * the start of its body: what an assertion shows when a load that should not fail did.
 */
export function firstFailures(answers: readonly Answer[], count = 5): string {
  const origin = answers[0]?.startedAt ?? 0;
  const failed = answers.filter((a) => a.status !== 200);
  const shown = failed
    .slice(0, count)
    .map((a) => `+${a.startedAt - origin} ms: ${a.status} ${a.body.slice(0, 240)}`)
    .join('\n');
  return `${failed.length} of ${answers.length} failed; the first:\n${shown}`;
}

/** The `error.code` of an error body, if it is one. */
export function errorCodeOf(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** The instance ids a 200 answer went through, front first. */
export function chainOf(answer: Answer): string[] {
  return (JSON.parse(answer.body) as { chain: string[] }).chain;
}

/**
 * An instance's `/metrics`, read over plaintext as the control plane scrapes it: under strict
 * mutual TLS a plaintext caller may still GET /healthz, /readyz and /metrics.
 */
export async function scrape(port: number): Promise<string> {
  const res = await request(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (res.statusCode !== 200) throw new Error(`GET /metrics on port ${port} answered ${res.statusCode}`);
  return res.body.text();
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The sum of the samples of `name` in a Prometheus text exposition whose labels include `labels`. */
export function sumOf(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    const sample = SAMPLE.exec(line);
    if (sample?.[1] !== name) continue;
    const found = new Map([...(sample[2] ?? '').matchAll(LABEL)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) sum += Number(sample[3]);
  }
  return sum;
}

/** The sum of `sumOf(name, labels)` over the instances on `ports`, scraped at once. */
export async function sumOver(
  ports: readonly number[],
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const texts = await Promise.all(ports.map(scrape));
  return texts.reduce((total, text) => total + sumOf(text, name, labels), 0);
}

/**
 * The certificate an instance presents now, read from a TLS handshake of our own. We have no
 * workload certificate, so the instance refuses the connection once it has seen that; under
 * TLS 1.3 its certificate has reached us before.
 */
export function servingCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake with port ${port} within 5 s`));
    }, 5_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const certificate = socket.getPeerX509Certificate();
      socket.destroy();
      if (certificate === undefined) reject(new Error(`port ${port} presented no certificate`));
      else resolve(certificate);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** The serial number of the certificate an instance presents now. */
export async function servingSerial(port: number): Promise<string> {
  return (await servingCertificate(port)).serialNumber;
}

/**
 * Whether `root` issued `leaf`, as an instance decides it (names and key identifiers match, and
 * the root's key checks the leaf's signature): the signature is what no other root can fake.
 */
export function issuedBy(leaf: X509Certificate, root: X509Certificate): boolean {
  return leaf.checkIssued(root) && leaf.verify(root.publicKey);
}
