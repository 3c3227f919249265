import { loadSpec, type SystemSpec } from '@flotilla/spec';
import { runningState } from '../admin-client.ts';
import { type Command, type CommandSpec, parseCommandArgs, renderUsage } from '../command.ts';
import { DEFAULTS } from '../defaults.ts';
import { CliError, UsageError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { FILE_FLAG } from '../spec-file.ts';
import { runDetached } from '../up-detached.ts';
import { runForeground } from '../up-foreground.ts';
import { describeSystem } from './validate.ts';

const spec = {
  name: 'up',
  summary: 'start the whole system and keep it running',
  description: [
    'Validates the spec (an invalid spec starts nothing), then starts the control plane, the gateway',
    'and every instance, printing progress as it goes. Once ready it prints the gateway and admin URLs',
    'and how long start-up took, and lists instances that failed to start.',
    '',
    'In the foreground, Ctrl-C (or SIGTERM) stops everything gracefully; a second Ctrl-C exits at once,',
    'killing every instance and PostgreSQL first.',
    'After a control plane was killed, `flotilla up` adopts what it left running and healthy (same ports,',
    'same processes) and replaces the rest; see docs/cli.md, "Restarting the control plane".',
    'With --detach it runs in the background, logging to .flotilla/logs/control-plane.log beside the',
    'spec, and returns once the system is ready; stop it with `flotilla down`.',
    '',
    `The control plane logs at FLOTILLA_LOG_LEVEL (default: ${DEFAULTS.foregroundLogLevel} in the foreground, ${DEFAULTS.detachedLogLevel} with --detach).`,
  ].join('\n'),
  flags: {
    file: FILE_FLAG,
    detach: { type: 'boolean', description: 'run in the background and return once ready' },
    'gateway-port': {
      type: 'string',
      value: 'N',
      description: "gateway port, 0 for a free one (default: the spec's gateway.listen.port)",
    },
    'admin-port': {
      type: 'string',
      value: 'N',
      description: "admin API port, 0 for a free one (default: the spec's controlPlane.port)",
    },
  },
  examples: ['flotilla up', 'flotilla up -f examples/hello/flotilla.yaml --detach --gateway-port 0'],
} as const satisfies CommandSpec;

/** Ports and spec of one `flotilla up`, checked before anything starts. */
export interface UpOptions {
  system: SystemSpec;
  gatewayPort: number | undefined;
  adminPort: number | undefined;
  /** `--file <path>` to append to hints, empty for the default spec file. */
  fileHint: string;
}

/** `flotilla up`: validate, then run the control plane in this process or in a detached one. */
export const up: Command = {
  spec,
  async run(argv) {
    const args = parseCommandArgs(spec, argv);
    if (!args) return EXIT.ok;
    const options: UpOptions = {
      gatewayPort: portOf(args.values['gateway-port'], '--gateway-port'),
      adminPort: portOf(args.values['admin-port'], '--admin-port'),
      system: loadSpec(args.values.file),
      fileHint: args.values.file === DEFAULTS.specFile ? '' : ` --file ${args.values.file}`,
    };
    const running = runningState(options.system.stateDir);
    if (running) {
      throw new CliError(
        'FLOTILLA_ALREADY_RUNNING',
        `already running at ${running.adminUrl} (pid ${running.pid}); stop it first with: flotilla down${options.fileHint}`,
      );
    }
    console.log(
      `starting "${options.system.name}" from ${args.values.file}: ${describeSystem(options.system)}`,
    );
    if (args.values.detach) {
      return runDetached(
        options,
        argv.filter((a) => a !== '--detach'),
      );
    }
    return runForeground(options);
  },
};

function portOf(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > 65_535) {
    throw new UsageError(`${flag} must be a port from 0 to 65535, got "${value}"`, renderUsage(spec));
  }
  return Number(value);
}
