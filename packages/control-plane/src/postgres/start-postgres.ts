import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { SystemSpec } from '@flotilla/spec';
import type { Logger } from 'pino';
import { statePaths } from '../state/index.ts';
import { commandLineOf, isRunning } from '../supervisor/process-group.ts';
import type { SystemStatus } from '../types.ts';
import { placeDataDir } from './data-dir.ts';
import { checkpoint } from './checkpoint.ts';
import { BUS_DATABASE } from './database-name.ts';
import { adoptEmbeddedPostgres, startEmbeddedPostgres } from './embedded.ts';
import { provisionDatabases } from './provision.ts';
import { serverAddress } from './server-url.ts';

/** Time limits of PostgreSQL set-up; the control plane fills them from its defaults. */
export interface PostgresTimeouts {
  startTimeoutMs: number;
  stopTimeoutMs: number;
  connectTimeoutMs: number;
  /** How often an embedded postmaster that is no child of this process is checked. */
  watchIntervalMs: number;
}

/** PostgreSQL as a system uses it. */
export interface PostgresHandle {
  /** Where the server is and, when it is the embedded one, how it is doing now. */
  status(): SystemStatus['postgres'];
  /** DATABASE_URL of each service with `database: true`. */
  databaseUrls: Record<string, string>;
  /**
   * The PostgreSQL bus's own database, as its role: set when `infrastructure.bus.kind` is `postgres`
   * and some service has `events`.
   */
  busUrl: string | undefined;
  /** Stops the embedded server; an external one is left alone. */
  stop(): Promise<void>;
}

/**
 * Gets every service with `database: true` its own database, and the PostgreSQL bus one when
 * services use events on it: on the server at `infrastructure.postgres.url` when one is set,
 * otherwise on an embedded PostgreSQL with its data in `.flotilla/postgres` (or where that links
 * to, see placeDataDir). Nothing starts when no service wants a database. An embedded server that
 * a killed earlier control plane left running on the data directory, on the port it gets now, is
 * adopted as it runs rather than restarted, so that the instances adopted with it keep their
 * connections; `earlierPort` (that run's port) is the port when the spec asks for any free one.
 */
export async function startPostgres(
  spec: SystemSpec,
  options: PostgresTimeouts & { log: Logger; progress: (message: string) => void; earlierPort?: number },
): Promise<PostgresHandle> {
  const services = Object.entries(spec.services)
    .filter(([, service]) => service.database)
    .map(([name]) => name);
  if (services.length === 0) {
    return {
      status: () => ({ mode: 'none', host: null, port: null }),
      databaseUrls: {},
      busUrl: undefined,
      stop: async () => {},
    };
  }
  // Events need a database (the spec says so), so a bus on PostgreSQL always has a server here.
  const wantsBus =
    spec.infrastructure.bus.kind === 'postgres' && Object.values(spec.services).some((s) => s.events);
  const paths = statePaths(spec.stateDir);
  const provision = async (serverUrl: string) => {
    const { [BUS_DATABASE]: busUrl, ...databaseUrls } = await provisionDatabases({
      serverUrl,
      system: spec.name,
      services: wantsBus ? [...services, BUS_DATABASE] : services,
      secretsDir: paths.secrets,
      connectTimeoutMs: options.connectTimeoutMs,
    });
    options.progress(
      `postgres: ${services.length === 1 ? 'database' : 'databases'} ready: ${Object.values(databaseUrls)
        .map(databaseOf)
        .join(', ')}`,
    );
    if (busUrl !== undefined) options.progress(`postgres: event bus database ready: ${databaseOf(busUrl)}`);
    return { databaseUrls, busUrl };
  };

  const external = spec.infrastructure.postgres.url;
  if (external !== undefined) {
    const { host, port } = serverAddress(external);
    options.progress(`postgres: using ${host}:${port}`);
    const urls = await provision(external);
    return { status: () => ({ mode: 'external', host, port }), ...urls, stop: async () => {} };
  }

  const started = performance.now();
  const { dataDir, unreachable } = await placeDataDir(spec.stateDir, spec.name);
  if (unreachable !== undefined)
    options.progress(`postgres: data in ${dataDir} (the postgres user cannot reach ${unreachable})`);
  const embedded = {
    dataDir,
    port: spec.infrastructure.postgres.port || (options.earlierPort ?? 0),
    // A name that neither a user's secret (letters, digits, _) nor a service's `postgres-<service>` can take.
    passwordFile: join(paths.secrets, 'postgres.superuser'),
    startTimeoutMs: options.startTimeoutMs,
    stopTimeoutMs: options.stopTimeoutMs,
    watchIntervalMs: options.watchIntervalMs,
    log: options.log,
  };
  const running = embedded.port === 0 ? undefined : await runningPostmaster(dataDir, embedded.port);
  const server =
    running === undefined
      ? await startEmbeddedPostgres(embedded)
      : await adoptEmbeddedPostgres({ ...embedded, pid: running });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const created = server.initialised ? `, created ${relative(spec.dir, paths.postgresData)}` : '';
  options.progress(
    running === undefined
      ? `postgres: started on ${server.host}:${server.port} (${seconds} s${created})`
      : `postgres: adopted the running server on ${server.host}:${server.port} (pid ${running})`,
  );
  try {
    const urls = await provision(server.serverUrl);
    // Creating a database writes thousands of pages; until a checkpoint has them on disk, a crash
    // recovery replays and syncs them all (10 s and more on a busy machine). Not waited for: the
    // instances start meanwhile, and the next timed checkpoint would do it anyway.
    checkpoint(server.serverUrl, options.connectTimeoutMs).catch((error: unknown) =>
      options.log.debug({ err: error }, 'the checkpoint after provisioning did not run'),
    );
    return {
      status: () => ({ mode: 'embedded', host: server.host, port: server.port, server: server.status() }),
      ...urls,
      stop: () => server.stop(),
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/**
 * The pid of a postmaster that runs on `dataDir` and listens on `port`, from its `postmaster.pid`
 * (pid on the first line, port on the fourth); undefined when none does, or the pid now runs
 * another program.
 */
async function runningPostmaster(dataDir: string, port: number): Promise<number | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 1 || Number(lines[3]) !== port || !isRunning(pid)) return undefined;
  return commandLineOf(pid)?.some((arg) => arg.includes('postgres')) ? pid : undefined;
}

function databaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}
