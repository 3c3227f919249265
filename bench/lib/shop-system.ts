/**
 * The reference shop started for a benchmark: `flotilla.yaml` as shipped, run with `flotilla up` on
 * free ports in a temporary directory, with only the gateway's rate-limit budgets raised.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SystemStatus } from '@flotilla/control-plane/types';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { upArgs } from './flotilla-up.ts';
import { hasExited, onCleanup, spawnOwned, stopChild } from './processes.ts';

/**
 * Budget of every rate limit of the shipped spec during a benchmark. One load generator on
 * 127.0.0.1 is one client address: the shipped per-address budgets (20 sign-ins, 200 anonymous
 * catalogue reads) are meant for a crowd of addresses and would refuse it within a second.
 */
export const BENCH_RATE_LIMIT = { capacity: 1_000_000, refillPerSecond: 1_000_000 } as const;

/** What the benchmark changed in the shipped spec, as a sentence for the results. */
export const SPEC_CHANGES =
  `every \`rateLimit\` budget (global per subject, \`identity\` per address) raised to capacity ` +
  `${BENCH_RATE_LIMIT.capacity.toLocaleString('en-US')}, refill ${BENCH_RATE_LIMIT.refillPerSecond.toLocaleString('en-US')}/s, ` +
  'keys as shipped; service paths made absolute; nothing else';

interface ShopSpec {
  name: string;
  gateway: { plugins: Record<string, unknown>; routes: { plugins?: Record<string, unknown> }[] };
  services: Record<string, { path: string }>;
}

/** The shipped spec under the name `system`, with absolute service paths and the raised budgets. */
export function benchShopSpec(repoRoot: string, system: string): string {
  const spec = parse(readFileSync(join(repoRoot, 'flotilla.yaml'), 'utf8')) as ShopSpec;
  spec.name = system;
  const raise = (plugins: Record<string, unknown> | undefined) => {
    const limit = plugins?.rateLimit;
    if (limit && typeof limit === 'object') plugins.rateLimit = { ...limit, ...BENCH_RATE_LIMIT };
  };
  raise(spec.gateway.plugins);
  for (const route of spec.gateway.routes) raise(route.plugins);
  for (const service of Object.values(spec.services)) service.path = join(repoRoot, service.path);
  return stringify(spec);
}

/** The running shop, and what the benchmark asks of it besides HTTP through the gateway. */
export interface RunningShop {
  system: string;
  /** The temporary directory holding `flotilla.yaml` and `.flotilla/`. */
  dir: string;
  gatewayUrl: string;
  adminUrl: string;
  /** The CLI's own `ready in X s`. */
  readyS: number;
  adminPassword: string;
  status(): Promise<SystemStatus>;
  /** Queries a service's own database (or `bus`) as the PostgreSQL superuser. */
  sql<R = Record<string, unknown>>(database: string, text: string, params?: unknown[]): Promise<R[]>;
  /** GET on the admin API, parsed as JSON. */
  admin<T>(path: string): Promise<T>;
}

const READY = /ready in ([\d.]+)\s*s\b/;

/**
 * Starts the shop with `flotilla up -f <tmp>/flotilla.yaml --gateway-port 0 --admin-port 0` and
 * FLOTILLA_LOG_LEVEL=warn, as the gateway benchmark runs its control plane. Stopping it (SIGINT,
 * as Ctrl-C would) and removing the directory are registered as clean-ups.
 */
export async function startShop(repoRoot: string, timeoutMs = 120_000): Promise<RunningShop> {
  const system = `shopbench-${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-shop-'));
  // An embedded PostgreSQL started as root runs as an unprivileged user that must reach its data.
  chmodSync(dir, 0o755);
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'flotilla.yaml');
  writeFileSync(file, benchShopSpec(repoRoot, system));

  const [cli, ...args] = upArgs(file);
  const child = spawnOwned(process.execPath, [join(repoRoot, cli!), ...args], {
    cwd: dir,
    env: { ...process.env, FLOTILLA_LOG_LEVEL: 'warn', NO_COLOR: '1' },
  });
  // Registered before waiting, so that a start that fails half-way is stopped too.
  onCleanup(() => stopChild(child, 'SIGINT', 30_000));
  const tail: string[] = [];
  const ready = new Promise<number | null>((resolve) => {
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      const match = READY.exec(line);
      if (match) resolve(Number(match[1]));
    };
    if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine);
    if (child.stderr) createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', () => resolve(null));
    setTimeout(() => resolve(null), timeoutMs).unref();
  });
  const readyS = await ready;
  const stateFile = join(dir, '.flotilla/state.json');
  if (readyS === null || hasExited(child) || !existsSync(stateFile)) {
    const why = hasExited(child) ? `exited with ${child.exitCode ?? child.signalCode}` : 'not ready in time';
    throw new Error(`flotilla up of the shop ${why}; last output:\n${tail.join('\n')}`);
  }
  if (tail.some((line) => /failed to start/.test(line))) {
    throw new Error(`some instances of the shop failed to start:\n${tail.join('\n')}`);
  }

  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { adminUrl: string; gatewayUrl: string };
  const secret = (name: string) => readFileSync(join(dir, '.flotilla/secrets', name), 'utf8').trim();
  const adminToken = readFileSync(join(dir, '.flotilla/admin-token'), 'utf8').trim();
  const admin = async <T>(path: string): Promise<T> => {
    const res = await fetch(state.adminUrl + path, {
      headers: { authorization: `Bearer ${adminToken}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`admin API GET ${path} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as T;
  };
  const status = () => admin<SystemStatus>('/v1/status');

  const pools = new Map<string, pg.Pool>();
  onCleanup(async () => {
    await Promise.all([...pools.values()].map((pool) => pool.end()));
  });
  const { postgres } = await status();
  const superuser = secret('postgres.superuser');
  const sql: RunningShop['sql'] = async (database, text, params) => {
    let pool = pools.get(database);
    if (!pool) {
      const name = `flotilla_${system}_${database}`.replaceAll('-', '_');
      pool = new pg.Pool({
        connectionString: `postgres://postgres:${encodeURIComponent(superuser)}@${postgres.host}:${postgres.port}/${name}`,
        max: 2,
      });
      // Idle connections are cut when the shop stops; a query that fails still rejects.
      pool.on('error', () => {});
      pools.set(database, pool);
    }
    return (await pool.query(text, params)).rows;
  };

  // Instances are ready when the CLI says so; wait until the gateway routes to each service too.
  await waitForRoutes(state.gatewayUrl);
  return {
    system,
    dir,
    gatewayUrl: state.gatewayUrl,
    adminUrl: state.adminUrl,
    readyS,
    adminPassword: secret('ADMIN_PASSWORD'),
    status,
    sql,
    admin,
  };
}

/** Resolves once the catalogue and the JWKS answer 200 through the gateway. */
async function waitForRoutes(gatewayUrl: string, withinMs = 30_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  let last = '';
  for (const path of ['/.well-known/jwks.json', '/api/catalog/v1/products?limit=1']) {
    for (;;) {
      try {
        const res = await fetch(gatewayUrl + path, { signal: AbortSignal.timeout(2_000) });
        last = `${res.status} ${(await res.text()).slice(0, 200)}`;
        if (res.status === 200) break;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`GET ${path} through the gateway: ${last}`);
      await sleep(200);
    }
  }
}
