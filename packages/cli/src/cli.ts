import { inspect } from 'node:util';
import { closest, SpecError } from '@flotilla/spec';
import type { Command } from './command.ts';
import { ca } from './commands/ca.ts';
import { deadLetters } from './commands/dead-letters.ts';
import { down } from './commands/down.ts';
import { logs } from './commands/logs.ts';
import { mail } from './commands/mail.ts';
import { scale } from './commands/scale.ts';
import { status } from './commands/status.ts';
import { up } from './commands/up.ts';
import { validate } from './commands/validate.ts';
import { UsageError } from './errors.ts';
import { EXIT } from './exit-codes.ts';
import { displayPath } from './spec-file.ts';

const COMMANDS: readonly Command[] = [up, down, status, logs, mail, deadLetters, scale, ca, validate];

/** Runs one `flotilla` command line and resolves to its exit code. Every error ends here as one line. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h') {
    console.log(overview());
    return EXIT.ok;
  }
  if (name === undefined) {
    console.error(overview());
    return EXIT.usage;
  }
  const command = COMMANDS.find((c) => c.spec.name === name);
  if (!command) {
    const hint = closest(
      name,
      COMMANDS.map((c) => c.spec.name),
    );
    const what = name.startsWith('-') ? `unknown flag ${name}` : `unknown command "${name}"`;
    console.error(`error: ${what}${hint ? `, did you mean "${hint}"?` : ''}`);
    console.error('Run "flotilla --help" for the list of commands.');
    return EXIT.usage;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    return report(error);
  }
}

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length));
  return [
    'flotilla: run a whole microservices system on one machine with one command',
    '',
    'Usage: flotilla <command> [flags]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}  ${c.spec.summary}`),
    '',
    'Every command reads ./flotilla.yaml unless given --file, and keeps its state in .flotilla/ beside it.',
    'Run "flotilla <command> --help" for its flags and an example. FLOTILLA_DEBUG=1 shows stack traces.',
    '',
    'Example:',
    '  flotilla up -f examples/hello/flotilla.yaml',
  ].join('\n');
}

function report(error: unknown): number {
  if (error instanceof UsageError) {
    console.error(`error: ${error.message}\n${error.usage}`);
    return EXIT.usage;
  }
  if (error instanceof SpecError) {
    const n = error.issues.length;
    const where = error.file ? `${displayPath(error.file)}: ` : '';
    console.error(`${where}${n} problem${n === 1 ? '' : 's'}`);
    for (const issue of error.issues)
      console.error(issue.path ? `${issue.path}: ${issue.message}` : issue.message);
    return EXIT.failure;
  }
  if (process.env.FLOTILLA_DEBUG === '1') {
    console.error(inspect(error));
    return EXIT.failure;
  }
  const message = error instanceof Error ? error.message : String(error);
  // Errors with a stable code are ours or a peer package's and say what to do; others may be bugs.
  const expected = typeof (error as { code?: unknown } | null)?.code === 'string';
  console.error(`error: ${message}${expected ? '' : ' (FLOTILLA_DEBUG=1 shows where)'}`);
  return EXIT.failure;
}
