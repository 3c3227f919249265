import { randomBytes } from 'node:crypto';
import type { Service } from '@flotilla/runtime';
import type pg from 'pg';
import { testPool } from '../../../test/support/pg-pool.ts';
import { startTestPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { inOrder } from '../../../test/support/teardown.ts';
import { buildUsersService } from './app.ts';

/** An answer of the service, its body parsed. */
export interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever fields they assert on
  body: any;
}

/** What the gateway would vouch for after verifying a token. */
export interface As {
  subject: string;
  roles: string[];
}

/** A started users instance and a client for it. */
export interface RunningUsers {
  service: Service;
  url: string;
  databaseUrl: string;
  /** Log lines as written, one string each. */
  logs: string[];
  call(method: string, path: string, options?: { body?: unknown; as?: As }): Promise<Answer>;
}

/** A PostgreSQL server and the users instances a test file starts on it. */
export interface UsersTestBed {
  /** The admin password every instance gets unless a test sets its own. */
  adminPassword: string;
  /** The bus database every instance gets as FLOTILLA_BUS_URL. */
  busUrl: string;
  /** A new, empty database. */
  database(): Promise<string>;
  /** Builds and starts an instance on port 0, on a new database unless `DATABASE_URL` is given. */
  start(env?: Record<string, string>): Promise<RunningUsers>;
  /** An SQL query on a database of the bed. */
  query<T extends pg.QueryResultRow>(url: string, sql: string, params?: unknown[]): Promise<T[]>;
  /** The one row an SQL query returns; throws when there is none. */
  one<T extends pg.QueryResultRow>(url: string, sql: string, params?: unknown[]): Promise<T>;
  /** Stops every instance, then the server. */
  stop(): Promise<void>;
}

/** Starts a test PostgreSQL (see test/support/postgres.ts) for one test file. */
export async function usersTestBed(): Promise<UsersTestBed> {
  const postgres: TestPostgres = await startTestPostgres();
  const adminPassword = randomBytes(24).toString('base64url');
  const services: Service[] = [];
  const pools = new Map<string, pg.Pool>();
  const databases: string[] = [];

  const query = async <T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []) => {
    let pool = pools.get(url);
    if (!pool) {
      pool = testPool({ connectionString: url, max: 2 });
      pools.set(url, pool);
    }
    return (await pool.query<T>(sql, params)).rows;
  };

  const database = async () => {
    const name = `users_${randomBytes(4).toString('hex')}`;
    await query(postgres.url, `CREATE DATABASE ${name}`);
    databases.push(name);
    const url = new URL(postgres.url);
    url.pathname = `/${name}`;
    return url.toString();
  };

  const busUrl = await database();

  const build = async (env: Record<string, string>): Promise<RunningUsers> => {
    const databaseUrl = env.DATABASE_URL ?? (await database());
    const logs: string[] = [];
    const service = buildUsersService({
      env: {
        ADMIN_PASSWORD: adminPassword,
        FLOTILLA_BUS_URL: busUrl,
        PORT: '0',
        HOST: '127.0.0.1',
        ...env,
        DATABASE_URL: databaseUrl,
      },
      logDestination: { write: (line: string) => logs.push(line) },
    });
    services.push(service);
    await service.start();
    const url = `http://127.0.0.1:${service.port}`;
    return {
      service,
      url,
      databaseUrl,
      logs,
      async call(method, path, options = {}) {
        const headers: Record<string, string> = {};
        if (options.body !== undefined) headers['content-type'] = 'application/json';
        if (options.as) {
          headers['x-flotilla-subject'] = options.as.subject;
          headers['x-flotilla-roles'] = options.as.roles.join(',');
        }
        const res = await fetch(`${url}${path}`, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
        });
        const text = await res.text();
        return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
      },
    };
  };

  return {
    adminPassword,
    busUrl,
    database,
    start: (env = {}) => build(env),
    query,
    async one(url, sql, params) {
      const [row] = await query(url, sql, params);
      if (!row) throw new Error(`no row from ${sql}`);
      return row as never;
    },
    async stop() {
      const server = pools.get(postgres.url);
      await inOrder([
        () => Promise.all(services.map((s) => s.stop())),
        () => Promise.all([...pools].filter(([url]) => url !== postgres.url).map(([, p]) => p.end())),
        // On a shared server (DATABASE_URL set) nobody else would drop them.
        ...databases.map((name) => () => server?.query(`DROP DATABASE ${name} WITH (FORCE)`)),
        () => server?.end(),
        () => postgres.stop(),
      ]);
    },
  };
}
