import { parseArgs } from 'node:util';
import { closest } from '@flotilla/spec';
import { UsageError } from './errors.ts';

/** A flag of a command. One definition drives both the parser and the help, so they cannot disagree. */
export interface Flag {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder of a string flag's value in the help (`N` shows as `--tail <N>`). */
  value?: string;
  default?: string;
  description: string;
}

/** What a command accepts and how it explains itself. */
export interface CommandSpec {
  name: string;
  /** One line, shown by `flotilla --help` and at the top of the command's help. */
  summary: string;
  /** Required positional arguments, in order. */
  positionals?: readonly string[];
  /** Positional arguments that may follow the required ones, in order. */
  optionalPositionals?: readonly string[];
  /** A last positional that takes any number of values (`id` shows as `[id...]`). */
  variadic?: string;
  /** Forms of the command that its first argument selects (`dead-letters replay`); its usage shows them too. */
  subcommands?: readonly CommandSpec[];
  description: string;
  flags: Readonly<Record<string, Flag>>;
  examples: readonly string[];
}

type FlagValues<F extends Readonly<Record<string, Flag>>> = {
  [K in keyof F]: F[K] extends { type: 'boolean' }
    ? boolean
    : F[K] extends { default: string }
      ? string
      : string | undefined;
};

/** A command line parsed against its CommandSpec. */
export interface ParsedArgs<F extends Readonly<Record<string, Flag>>> {
  values: FlagValues<F>;
  positionals: string[];
}

const HELP_FLAG: Flag = { type: 'boolean', short: 'h', description: 'show this help' };

/**
 * Parses a command's arguments strictly. Returns undefined after printing the help when `--help`
 * is given, which wins over any other mistake on the line so that help is always reachable.
 */
export function parseCommandArgs<const S extends CommandSpec>(
  spec: S,
  argv: readonly string[],
): ParsedArgs<S['flags']> | undefined {
  const beforeDashes = argv.indexOf('--') === -1 ? argv : argv.slice(0, argv.indexOf('--'));
  if (beforeDashes.includes('--help') || beforeDashes.includes('-h')) {
    console.log(renderHelp(spec));
    return undefined;
  }
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }> =
    {};
  for (const [name, flag] of Object.entries(spec.flags)) {
    options[name] = {
      type: flag.type,
      ...(flag.short ? { short: flag.short } : {}),
      default: flag.type === 'boolean' ? false : flag.default,
    };
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(describeParseError(error, Object.keys(spec.flags)), renderUsage(spec));
  }
  const expected = spec.positionals ?? [];
  const missing = expected.slice(parsed.positionals.length);
  if (missing.length > 0) {
    throw new UsageError(`missing ${missing.map((p) => `<${p}>`).join(' ')}`, renderUsage(spec));
  }
  const extra = parsed.positionals.slice(expected.length + (spec.optionalPositionals ?? []).length);
  if (extra.length > 0 && spec.variadic === undefined)
    throw new UsageError(`unexpected argument "${extra[0]}"`, renderUsage(spec));
  return { values: parsed.values as FlagValues<S['flags']>, positionals: parsed.positionals };
}

/** The usage line of a command, with a pointer to its full help. */
export function renderUsage(spec: CommandSpec): string {
  return `Usage: ${usageLines(spec)}\nRun "flotilla ${spec.name} --help" for details.`;
}

/** The full `--help` text of a command. */
export function renderHelp(spec: CommandSpec): string {
  const flags = Object.entries({ ...spec.flags, help: HELP_FLAG }).map(([name, flag]) => {
    const short = flag.short ? `-${flag.short}, ` : '    ';
    const value = flag.type === 'string' ? ` <${flag.value ?? 'value'}>` : '';
    const dflt = flag.default === undefined ? '' : ` (default: ${flag.default})`;
    return { left: `${short}--${name}${value}`, right: `${flag.description}${dflt}` };
  });
  const width = Math.max(...flags.map((f) => f.left.length));
  return [
    `flotilla ${spec.name}: ${spec.summary}`,
    '',
    `Usage: ${usageLines(spec)}`,
    '',
    spec.description,
    '',
    'Flags:',
    ...flags.map((f) => `  ${f.left.padEnd(width)}  ${f.right}`),
    '',
    spec.examples.length === 1 ? 'Example:' : 'Examples:',
    ...spec.examples.map((e) => `  ${e}`),
  ].join('\n');
}

/** The command's usage line, and one more per subcommand, aligned under it. */
function usageLines(spec: CommandSpec): string {
  return [spec, ...(spec.subcommands ?? [])].map(usageLine).join(`\n${' '.repeat('Usage: '.length)}`);
}

function usageLine(spec: CommandSpec): string {
  const positionals = [
    ...(spec.positionals ?? []).map((p) => ` <${p}>`),
    ...(spec.optionalPositionals ?? []).map((p) => ` [${p}]`),
    ...(spec.variadic === undefined ? [] : [` [${spec.variadic}...]`]),
  ].join('');
  return `flotilla ${spec.name}${positionals} [flags]`;
}

/** node:util's parse errors, reworded as one short line that names the flag. */
function describeParseError(error: unknown, flagNames: string[]): string {
  const { code, message } = error as { code?: string; message: string };
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  const long = /--[\w-]+/.exec(quoted)?.[0] ?? quoted;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const hint = quoted.startsWith('--') ? closest(quoted.slice(2).split('=')[0]!, flagNames) : undefined;
      return `unknown flag ${quoted}${hint ? `, did you mean --${hint}?` : ''}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (message.includes('argument missing')) return `${long} needs a value`;
      if (message.includes('does not take an argument')) return `${long} takes no value`;
      return message;
    default:
      return message;
  }
}

/** A `flotilla` subcommand: what it accepts, and what it does with it (resolving to an exit code). */
export interface Command {
  spec: CommandSpec;
  run(argv: readonly string[]): Promise<number>;
}
