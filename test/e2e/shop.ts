import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { processesOf, type RunningSystem, repoRoot, startSystem, tempDir, waitFor } from './support.ts';

/** What an e2e test may change in the shop's spec. */
export interface ShopOverrides {
  /** `infrastructure.bus`; the shipped spec's PostgreSQL bus when absent. */
  bus?: { kind: 'postgres' | 'rabbitmq'; url?: string };
  /** Extra env per service (`FLOTILLA_FAILPOINTS_DIR` for crash tests). */
  env?: Record<string, Record<string, string>>;
  /** Replicas per service. */
  replicas?: Record<string, number>;
  /** `mesh.certificates.ttlMs`, short for a test that waits for renewals. */
  certificateTtlMs?: number;
}

/**
 * The shop exactly as `flotilla.yaml` ships it (routes, plugins, services, events, secrets), with
 * a unique name, absolute service paths, fast probes and the test's overrides. The gateway's
 * budgets are raised so that one test client is not rate limited as a crowd would be: the rate
 * limiter has tests of its own.
 */
export function shopSpec(system: string, overrides: ShopOverrides = {}): string {
  const spec = parse(readFileSync(join(repoRoot, 'flotilla.yaml'), 'utf8')) as {
    name: string;
    gateway: { plugins: Record<string, unknown>; routes: { plugins?: Record<string, unknown> }[] };
    services: Record<string, Record<string, unknown>>;
    infrastructure: Record<string, unknown>;
    mesh: Record<string, unknown>;
  };
  spec.name = system;
  const relaxed = { key: 'ip', capacity: 100_000, refillPerSecond: 100_000 };
  spec.gateway.plugins.rateLimit = relaxed;
  for (const route of spec.gateway.routes) {
    if (route.plugins?.rateLimit) route.plugins.rateLimit = relaxed;
  }
  for (const [name, service] of Object.entries(spec.services)) {
    service.path = join(repoRoot, service.path as string);
    // Fast to notice readiness, slow to give up on a process: on two busy cores a probe answer can
    // take longer than 150 ms, and a replica taken out of the table or killed for that is an
    // outage the test did not inject.
    service.probes = {
      readiness: { periodMs: 200, timeoutMs: 200, failureThreshold: 3 },
      liveness: { periodMs: 1_000, timeoutMs: 1_000, failureThreshold: 3 },
    };
    service.terminationGracePeriodMs = 5_000;
    if (overrides.replicas?.[name] !== undefined) service.replicas = overrides.replicas[name];
    const env = overrides.env?.[name];
    if (env) service.env = { ...(service.env as Record<string, string> | undefined), ...env };
  }
  if (overrides.bus) spec.infrastructure.bus = overrides.bus;
  if (overrides.certificateTtlMs !== undefined)
    spec.mesh.certificates = { ttlMs: overrides.certificateTtlMs };
  return stringify(spec);
}

/** A message the SMTP sink received, as `GET /v1/mail` lists it. */
export interface SinkMessage {
  id: string;
  messageId: string;
  to: string[];
  subject: string;
  text: string;
  receivedCount: number;
}

/** The shop started with `flotilla up`, and what a test does with it. */
export interface RunningShop extends RunningSystem {
  /** Calls the gateway; a JSON body is sent as JSON, answers are parsed when they are JSON. */
  api<T = Record<string, unknown>>(
    path: string,
    options?: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; headers: Headers; text: string; body: T }>;
  /** Registers a new customer and signs them in. */
  customer(): Promise<{ id: string; email: string; token: string }>;
  /** A token of the admin account the users service created from the generated secret. */
  adminToken(): Promise<string>;
  /** What the SMTP sink received for `to`. */
  mail(to: string): Promise<SinkMessage[]>;
  /** Waits until the sink holds `count` messages for `to`, and returns them. */
  waitForMail(to: string, count: number, timeoutMs?: number): Promise<SinkMessage[]>;
  /** A query on a service's own database, as the PostgreSQL superuser. */
  sql<R = Record<string, unknown>>(service: string, text: string, params?: unknown[]): Promise<R[]>;
  /** The system's unique name (FLOTILLA_SYSTEM of its instances). */
  system: string;
  /**
   * Stops the shop as Ctrl-C would, waiting for it; whatever is still running after that (a test
   * that failed half-way) is killed, so no test leaves a system behind.
   */
  stop(): Promise<void>;
}

/** Starts the shop in a temp directory on free ports. */
export async function startShop(overrides: ShopOverrides = {}): Promise<RunningShop> {
  const system = `shop-${randomBytes(3).toString('hex')}`;
  const dir = tempDir();
  const sys = await startSystem(shopSpec(system, overrides), dir);
  const pools = new Map<string, pg.Pool>();

  const api: RunningShop['api'] = async (path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const res = await fetch(sys.gatewayUrl + path, {
      method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, text, body: body as never };
  };

  /** A set-up call: a 503 (the shop is busy or still starting, nothing was done) is tried again. */
  const setUp: RunningShop['api'] = async (path, options) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await api(path, options);
      if (res.status !== 503 || Date.now() > deadline) return res as never;
      await sleep(250);
    }
  };

  const token = async (email: string, password: string): Promise<string> => {
    const res = await setUp<{ access_token: string }>('/api/identity/v1/token', {
      body: { email, password },
    });
    if (res.status !== 200) throw new Error(`token for ${email}: ${res.status} ${res.text}`);
    return res.body.access_token;
  };

  const mail = async (to: string): Promise<SinkMessage[]> => {
    const res = await fetch(`${sys.adminUrl}/v1/mail?to=${encodeURIComponent(to)}&limit=1000`, {
      headers: { authorization: `Bearer ${sys.token}` },
    });
    if (!res.ok) throw new Error(`mail: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { messages: SinkMessage[] }).messages;
  };

  return {
    ...sys,
    api,
    async customer() {
      const email = `c-${randomUUID()}@shop.test`;
      const password = `pw-${randomUUID()}`;
      const res = await setUp<{ id: string }>('/api/identity/v1/register', {
        body: { email, name: 'Test Customer', password },
      });
      if (res.status !== 201) throw new Error(`register: ${res.status} ${res.text}`);
      return { id: res.body.id, email, token: await token(email, password) };
    },
    adminToken: () =>
      token('admin@shop.local', readFileSync(join(dir, '.flotilla/secrets/ADMIN_PASSWORD'), 'utf8').trim()),
    mail,
    async waitForMail(to, count, timeoutMs = 20_000) {
      let found: SinkMessage[] = [];
      await waitFor(
        `${count} message(s) to ${to}`,
        async () => {
          found = await mail(to);
          return found.length >= count;
        },
        timeoutMs,
      );
      return found;
    },
    async sql(service, text, params) {
      let pool = pools.get(service);
      if (!pool) {
        const { postgres } = await sys.status();
        const password = readFileSync(join(dir, '.flotilla/secrets/postgres.superuser'), 'utf8').trim();
        const database = `flotilla_${system}_${service}`.replaceAll('-', '_');
        pool = new pg.Pool({
          connectionString: `postgres://postgres:${encodeURIComponent(password)}@${postgres.host}:${postgres.port}/${database}`,
          max: 2,
        });
        // A test may kill PostgreSQL under this pool: an idle connection's error must not end the run.
        pool.on('error', () => {});
        pools.set(service, pool);
      }
      return (await pool.query(text, params)).rows;
    },
    system,
    async stop() {
      await Promise.all([...pools.values()].map((p) => p.end()));
      if (sys.cli.exitCode === null && sys.cli.signalCode === null) {
        const exited = new Promise((resolve) => sys.cli.once('exit', resolve));
        sys.cli.kill('SIGINT');
        await Promise.race([exited, sleep(30_000)]);
        if (sys.cli.exitCode === null) sys.cli.kill('SIGKILL');
      }
      for (const pid of processesOf(system, dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // it ended meanwhile
        }
      }
    },
  };
}
