import { AdminClient } from '../admin-client.ts';
import { type Command, type CommandSpec, parseCommandArgs, renderUsage } from '../command.ts';
import { DEFAULTS } from '../defaults.ts';
import { UsageError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { renderDeadLetters, renderReplay } from '../render-dead-letters.ts';
import { FILE_FLAG, stateDirFor } from '../spec-file.ts';

const ID = /^\d{1,19}$/;

const replaySpec = {
  name: 'dead-letters replay',
  summary: 'send dead letters of a service back to its subscription',
  positionals: ['service'],
  variadic: 'id',
  description: [
    'Sends dead letters of <service> back to its subscription as first deliveries, and deletes them:',
    'the ids named (as "flotilla dead-letters" lists them), or every one with --all. One of the two is',
    'required, so that a command cut short never replays everything. Fix what made the handler fail',
    'first, or the events come back as dead letters once their retries are spent.',
    'Exits 1 when an id named is not there (replayed already, or not a dead letter of <service>), or',
    'when the system is not running.',
  ].join('\n'),
  flags: {
    all: { type: 'boolean', description: 'replay every dead letter of <service> instead of naming ids' },
    json: { type: 'boolean', description: 'print what the admin API returns ({"replayed": [ids]})' },
    file: FILE_FLAG,
  },
  examples: [
    'flotilla dead-letters replay notifications 12 13',
    'flotilla dead-letters replay notifications --all',
  ],
} as const satisfies CommandSpec;

const spec = {
  name: 'dead-letters',
  summary: 'list the events services gave up on, or replay them',
  subcommands: [replaySpec],
  description: [
    'Lists the events that consuming services gave up on, oldest first: when, which service, the',
    "event's type and id, the deliveries it had, the first line of the last error, and the dead",
    "letter's id. An event becomes a dead letter when its handler failed every attempt (retried with",
    'backoff), or at once when it cannot be handled at all (not an event, or a type with no handler).',
    "It stays in the consuming service's own database (table flotilla_dead_letters) until replayed.",
    '',
    'With "replay", sends dead letters of one service back to its subscription and deletes them: the',
    'ids named, or all of them with --all. See "flotilla dead-letters replay --help".',
    'Exits 1 when the system is not running.',
  ].join('\n'),
  flags: {
    service: { type: 'string', value: 'name', description: 'only the dead letters of this service' },
    limit: {
      type: 'string',
      value: 'N',
      default: String(DEFAULTS.deadLettersLimit),
      description: 'how many of the oldest to list, 1 to 1000',
    },
    json: {
      type: 'boolean',
      description: 'print what the admin API returns (DeadLetterList, each error whole)',
    },
    file: FILE_FLAG,
  },
  examples: [
    'flotilla dead-letters',
    'flotilla dead-letters --service notifications --json',
    'flotilla dead-letters replay notifications 12',
  ],
} as const satisfies CommandSpec;

/**
 * `flotilla dead-letters`: GET /v1/dead-letters as a table; `flotilla dead-letters replay`:
 * POST /v1/dead-letters/replay. One command, because replaying is done from what the list shows.
 */
export const deadLetters: Command = {
  spec,
  async run(argv) {
    if (argv[0] === 'replay') return replay(argv.slice(1));
    const args = parseCommandArgs(spec, argv);
    if (!args) return EXIT.ok;
    const { service, limit, json } = args.values;
    if (!/^\d+$/.test(limit)) {
      throw new UsageError(
        `--limit must be a whole number from 1 to 1000, got "${limit}"`,
        renderUsage(spec),
      );
    }
    const list = await AdminClient.connect(stateDirFor(args.values.file)).deadLetters({
      service,
      limit: Number(limit),
    });
    console.log(json ? JSON.stringify(list, null, 2) : renderDeadLetters(list, service));
    return EXIT.ok;
  },
};

async function replay(argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(replaySpec, argv);
  if (!args) return EXIT.ok;
  const [service, ...ids] = args.positionals as [string, ...string[]];
  const { all, json } = args.values;
  if (all && ids.length > 0) throw new UsageError('give ids or --all, not both', renderUsage(replaySpec));
  if (!all && ids.length === 0) {
    throw new UsageError(
      `name the dead letters of ${service} to replay by id (flotilla dead-letters --service ${service} lists them), or pass --all to replay every one`,
      renderUsage(replaySpec),
    );
  }
  const bad = ids.find((id) => !ID.test(id));
  if (bad !== undefined) {
    throw new UsageError(
      `dead-letter ids are whole numbers, as flotilla dead-letters lists them, got "${bad}"`,
      renderUsage(replaySpec),
    );
  }
  const client = AdminClient.connect(stateDirFor(args.values.file));
  const result = await client.replayDeadLetters(service, all ? 'all' : ids);
  console.log(json ? JSON.stringify(result, null, 2) : renderReplay(service, result.replayed));
  const missing = [...new Set(ids.filter((id) => !result.replayed.includes(id)))];
  if (missing.length === 0) return EXIT.ok;
  console.error(
    `error: ${service} has no dead letter ${missing.join(', ')} (replayed already?); flotilla dead-letters --service ${service} lists those left`,
  );
  return EXIT.failure;
}
