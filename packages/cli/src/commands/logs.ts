import { AdminClient } from '../admin-client.ts';
import { type Command, type CommandSpec, parseCommandArgs, renderUsage } from '../command.ts';
import { DEFAULTS } from '../defaults.ts';
import { UsageError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { prettyLogLine } from '../pretty-log.ts';
import { stateDirFor } from '../spec-file.ts';

const spec = {
  name: 'logs',
  summary: "print a service's logs, and follow them",
  positionals: ['service'],
  description: [
    'Prints the last lines the control plane kept from the stdout and stderr of every instance of',
    '<service>, oldest first. JSON lines from pino are shown as "HH:MM:SS instance LEVEL msg key=value";',
    'other lines as they are. Colours only on a terminal.',
    '',
    'Note: here -f means --follow, so the spec file can only be given as --file.',
  ].join('\n'),
  flags: {
    follow: { type: 'boolean', short: 'f', description: 'keep printing new lines until Ctrl-C' },
    instance: { type: 'string', value: 'id', description: 'only the lines of this instance (orders-v1-2)' },
    tail: {
      type: 'string',
      value: 'N',
      default: String(DEFAULTS.logsTail),
      description: 'how many past lines to print first',
    },
    json: {
      type: 'boolean',
      description: 'print the lines as the admin API returns them (NDJSON of LogLine)',
    },
    file: {
      type: 'string',
      value: 'path',
      default: DEFAULTS.specFile,
      description: 'the system spec; --file only, as -f is --follow here',
    },
  },
  examples: ['flotilla logs orders -f', 'flotilla logs orders --instance orders-v1-2 --tail 50'],
} as const satisfies CommandSpec;

/** `flotilla logs`: GET /v1/services/:service/logs, prettified unless --json. */
export const logs: Command = {
  spec,
  async run(argv) {
    const args = parseCommandArgs(spec, argv);
    if (!args) return EXIT.ok;
    const [service] = args.positionals as [string];
    const { tail, instance, follow, json } = args.values;
    if (!/^\d+$/.test(tail)) {
      throw new UsageError(`--tail must be a whole number >= 0, got "${tail}"`, renderUsage(spec));
    }
    const client = AdminClient.connect(stateDirFor(args.values.file));
    const color = Boolean(process.stdout.isTTY);
    for await (const line of client.logs(service, { tail: Number(tail), instance, follow })) {
      console.log(json ? JSON.stringify(line) : prettyLogLine(line, { color }));
    }
    return EXIT.ok;
  },
};
