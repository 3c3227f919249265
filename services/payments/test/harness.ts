import type { Service } from '@flotilla/runtime';
import { startTestPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { inOrder } from '../../../test/support/teardown.ts';
import { buildPaymentsService } from '../src/app.ts';

/** An answer of the payments service, its JSON body parsed. */
export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** A payments instance on 127.0.0.1 port 0, the raw lines it logged, and ways to call it. */
export interface Instance {
  service: Service;
  /** Every log line, as written (debug level and up). */
  logs: string[];
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<Answer<T>>;
  /** The value of one sample on `/metrics`, 0 when the series does not exist yet. */
  metric(sample: string): Promise<number>;
}

/** A fresh database of the test file's own, with payments instances on it. */
export interface Payments extends Instance {
  /** Runs SQL on the service's database (through the first instance's pool). */
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<R[]>;
  /** Another instance on the same database, as a second replica. */
  replica(): Promise<Instance>;
  stop(): Promise<void>;
}

/** Starts PostgreSQL and the payments service on it. */
export async function startPayments(): Promise<Payments> {
  const postgres = await startTestPostgres();
  const instances: Instance[] = [];
  const stop = () =>
    inOrder([() => Promise.all(instances.map((i) => i.service.stop())), () => postgres.stop()]);
  try {
    const replica = async () => {
      const instance = await startInstance(postgres);
      instances.push(instance);
      return instance;
    };
    const first = await replica();
    return {
      ...first,
      query: async <R extends Record<string, unknown>>(sql: string, params?: unknown[]) =>
        (await first.service.db.query<R>(sql, params)).rows,
      replica,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startInstance(postgres: TestPostgres): Promise<Instance> {
  const logs: string[] = [];
  const service = buildPaymentsService({
    env: { DATABASE_URL: postgres.url, PORT: '0', HOST: '127.0.0.1', FLOTILLA_LOG_LEVEL: 'debug' },
    logDestination: { write: (line: string) => logs.push(line) },
  });
  await service.start();
  const base = `http://127.0.0.1:${service.port}`;
  return {
    service,
    logs,
    async call<T>(method: string, path: string, body?: unknown): Promise<Answer<T>> {
      const res = await fetch(base + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
    },
    async metric(sample: string): Promise<number> {
      const text = await (await fetch(`${base}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
      return line ? Number(line.slice(sample.length + 1)) : 0;
    },
  };
}
