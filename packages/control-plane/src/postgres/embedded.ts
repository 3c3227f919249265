import { existsSync } from 'node:fs';
import { platform } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SUPERVISOR_DEFAULTS } from '../defaults.ts';
import { pickFreePort, readOrCreateSecret } from '../state/index.ts';
import type { Clock } from '../supervisor/index.ts';
import type { PostgresServerStatus } from '../types.ts';
import { PostgresError } from './errors.ts';
import { loadEmbeddedPostgres } from './load-embedded-postgres.ts';
import { postgresBinary } from './postgres-binary.ts';
import { postgresUser } from './postgres-user.ts';
import { PostmasterSupervisor } from './postmaster-supervisor.ts';
import { stopLeftoverPostmaster } from './postmaster.ts';
import { startPostmaster } from './start-postmaster.ts';
import type { WatchedPostmaster } from './watch-postmaster.ts';

/** Where and how to run the embedded PostgreSQL. */
export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port: number;
  /** The superuser's password (generated on the first run, needed on every later one). */
  passwordFile: string;
  startTimeoutMs: number;
  /**
   * How long a fast shutdown may take before an immediate one (WAL replay on the next start), and
   * that one before a kill.
   */
  stopTimeoutMs: number;
  /** How often a postmaster adopted by pid is checked; a child's exit is seen at once. */
  watchIntervalMs: number;
  log: Logger;
  /** @default Date */
  clock?: Clock;
}

/** A running embedded PostgreSQL. */
export interface RunningPostgres {
  host: string;
  port: number;
  /** Superuser URL, for provisioning. */
  serverUrl: string;
  /** Whether this start created the data directory. */
  initialised: boolean;
  /** The server's state, pid, restarts and last exit: it is restarted whenever it ends before stop(). */
  status(): PostgresServerStatus;
  /** Fast shutdown: open transactions roll back, everything committed is on disk; resolves once done. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const SUPERUSER = 'postgres';
/**
 * What bounds a restart after a crash (the server replays the WAL since the last checkpoint, then
 * writes and syncs every page that replay touched before it takes connections):
 * - a checkpoint at least every 30 s (the least PostgreSQL allows; 5 min by default), so that
 *   replay covers half a minute of changes rather than five;
 * - one syncfs of the file system instead of one fsync per file of the data directory (thousands
 *   with the system's databases: 5 to 20 s on a busy machine) for the sync the server does before
 *   replay. Linux only; elsewhere the server refuses the setting.
 */
const RECOVERY_FLAGS = [
  '-c',
  'checkpoint_timeout=30s',
  ...(platform() === 'linux' ? ['-c', 'recovery_init_sync_method=syncfs'] : []),
];
/** Output lines kept to explain a failed start. */
const OUTPUT_LINES = 20;

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package with its data in `dataDir`,
 * initialising the directory only the first time, so a later run finds its data again. It listens
 * on 127.0.0.1 only (no Unix socket), requires the superuser's password, and runs in a process
 * group of its own, so that only stop() (or this process's exit) ends it. Should it end otherwise
 * (kill -9, the OOM killer), it is restarted on the same port (see PostmasterSupervisor).
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const { dataDir, log } = options;
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
  if (!fresh && !existsSync(options.passwordFile)) {
    throw new PostgresError(
      'FLOTILLA_POSTGRES_START_FAILED',
      `the superuser password of ${dataDir} is gone (it was in ${options.passwordFile}); restore that file, or delete ${dataDir} to start over (this deletes every database in it)`,
    );
  }
  const password = await readOrCreateSecret(options.passwordFile);
  const leftover = await stopLeftoverPostmaster(dataDir, options.startTimeoutMs).catch((cause: unknown) => {
    throw new PostgresError('FLOTILLA_POSTGRES_START_FAILED', (cause as Error).message, { cause });
  });
  if (leftover !== undefined)
    log.warn({ pid: leftover }, 'stopped a PostgreSQL left running by an earlier run');
  const port = options.port || (await pickFreePort(HOST));
  const root = process.getuid?.() === 0;

  const output: string[] = [];
  const record = (message: unknown) => {
    const text = message instanceof Error ? message.message : String(message);
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      output.push(line.trim());
      if (output.length > OUTPUT_LINES) output.shift();
      log.debug({ postgres: line.trim() }, 'postgres output');
    }
  };

  const start = starter(options, port, record);
  let postmaster: WatchedPostmaster;
  try {
    // embedded-postgres supplies the binaries and initdb (creating the postgres user when root
    // needs one), but not the server process: its start() would keep the server in this process's
    // group, where a Ctrl-C reaches it (see startPostmaster).
    if (fresh) {
      const EmbeddedPostgres = await loadEmbeddedPostgres();
      await new EmbeddedPostgres({
        databaseDir: dataDir,
        user: SUPERUSER,
        password,
        authMethod: 'scram-sha-256',
        createPostgresUser: root,
        initdbFlags: ['--encoding=UTF8'],
        onLog: record,
        onError: record,
      }).initialise();
    }
    postmaster = await start();
  } catch (cause) {
    if (cause instanceof PostgresError) throw cause;
    const reason = cause instanceof Error ? cause.message : 'the server exited';
    const hint = root ? `; as root it runs as the postgres user, who must be able to reach ${dataDir}` : '';
    throw new PostgresError(
      'FLOTILLA_POSTGRES_START_FAILED',
      `PostgreSQL did not start on ${HOST}:${port} (${reason.split('\n')[0]})${hint}. Its last output:\n  ${output.join('\n  ')}\nFix the cause above, or set infrastructure.postgres.url in the spec to use a server you run`,
      { cause },
    );
  }
  return supervise(options, { postmaster, port, password, initialised: fresh, start });
}

/**
 * Takes over an embedded PostgreSQL that an earlier control plane started and left running on
 * `dataDir` (known by the pid in its `postmaster.pid` and its port), and supervises it from now on
 * as if this process had started it: restarted on the same port when it ends, stopped by stop().
 */
export async function adoptEmbeddedPostgres(
  /** `port` is the one the server listens on. */
  options: EmbeddedPostgresOptions & { pid: number },
): Promise<RunningPostgres> {
  const password = await readOrCreateSecret(options.passwordFile);
  const start = starter(options, options.port, (line) =>
    options.log.debug({ postgres: line }, 'postgres output'),
  );
  return supervise(options, {
    postmaster: { pid: options.pid },
    port: options.port,
    password,
    initialised: false,
    start,
  });
}

/** Starts a postmaster on the data directory and `port`, in its group, ready when it resolves. */
function starter(
  options: EmbeddedPostgresOptions,
  port: number,
  onOutput: (line: string) => void,
): () => Promise<WatchedPostmaster> {
  const root = process.getuid?.() === 0;
  return async () =>
    startPostmaster({
      binary: await postgresBinary(),
      dataDir: options.dataDir,
      port,
      flags: ['-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories=', ...RECOVERY_FLAGS],
      user: root ? await postgresUser() : undefined,
      startTimeoutMs: options.startTimeoutMs,
      stopTimeoutMs: options.stopTimeoutMs,
      onOutput,
      log: options.log,
    });
}

/** Puts a running postmaster under a PostmasterSupervisor and wraps it as a RunningPostgres. */
function supervise(
  options: EmbeddedPostgresOptions,
  server: {
    postmaster: WatchedPostmaster;
    port: number;
    password: string;
    initialised: boolean;
    start: () => Promise<WatchedPostmaster>;
  },
): RunningPostgres {
  const supervisor = new PostmasterSupervisor({
    postmaster: server.postmaster,
    dataDir: options.dataDir,
    start: server.start,
    policy: SUPERVISOR_DEFAULTS.restart,
    watchIntervalMs: options.watchIntervalMs,
    stopTimeoutMs: options.stopTimeoutMs,
    clock: options.clock ?? Date,
    log: options.log,
  });
  // Should this process end without stop() (an uncaught error, a second Ctrl-C), PostgreSQL still
  // gets its fast shutdown instead of lingering; 'exit' handlers must be synchronous, and a signal is.
  const onExit = () => {
    try {
      if (supervisor.pid !== null) process.kill(supervisor.pid, 'SIGINT');
    } catch {
      // Already gone: nothing left to stop.
    }
  };
  process.on('exit', onExit);
  return {
    host: HOST,
    port: server.port,
    serverUrl: `postgres://${SUPERUSER}:${encodeURIComponent(server.password)}@${HOST}:${server.port}/postgres`,
    initialised: server.initialised,
    status: () => supervisor.status(),
    async stop() {
      process.off('exit', onExit);
      await supervisor.stop();
    },
  };
}
