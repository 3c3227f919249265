import { setTimeout as sleep } from 'node:timers/promises';
import { AdminClient, isAlive } from '../admin-client.ts';
import { type Command, type CommandSpec, parseCommandArgs } from '../command.ts';
import { DEFAULTS } from '../defaults.ts';
import { CliError, NotRunningError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { formatSeconds } from '../format-duration.ts';
import { FILE_FLAG, stateDirFor } from '../spec-file.ts';

const spec = {
  name: 'down',
  summary: 'stop the running system gracefully',
  description: [
    'Asks the control plane to shut down (instances are drained and stopped within their grace',
    `periods) and waits up to ${DEFAULTS.downTimeoutMs / 1000} s for its process to exit. Prints "not running"`,
    'and exits 0 when nothing runs for this spec.',
  ].join('\n'),
  flags: { file: FILE_FLAG },
  examples: ['flotilla down', 'flotilla down -f examples/hello/flotilla.yaml'],
} as const satisfies CommandSpec;

/** `flotilla down`: POST /v1/shutdown, then wait for the control-plane pid to go. */
export const down: Command = {
  spec,
  async run(argv) {
    const args = parseCommandArgs(spec, argv);
    if (!args) return EXIT.ok;
    const started = performance.now();
    let client: AdminClient;
    try {
      client = AdminClient.connect(stateDirFor(args.values.file));
      await client.shutdown();
    } catch (error) {
      if (!(error instanceof NotRunningError)) throw error;
      console.log('not running');
      return EXIT.ok;
    }
    const { pid } = client.state;
    console.log(`stopping (control plane pid ${pid})...`);
    let nextProgressMs = DEFAULTS.downProgressEveryMs;
    while (isAlive(pid)) {
      const elapsedMs = performance.now() - started;
      if (elapsedMs >= DEFAULTS.downTimeoutMs) {
        throw new CliError(
          'FLOTILLA_STOP_TIMEOUT',
          `the control plane (pid ${pid}) is still running after ${formatSeconds(elapsedMs)}; stop it with: kill ${pid}`,
        );
      }
      if (elapsedMs >= nextProgressMs) {
        console.log(`still stopping after ${formatSeconds(elapsedMs)}...`);
        nextProgressMs += DEFAULTS.downProgressEveryMs;
      }
      await sleep(DEFAULTS.pollIntervalMs);
    }
    console.log(`stopped in ${formatSeconds(performance.now() - started)}`);
    return EXIT.ok;
  },
};
