export { runCli } from './cli.ts';
export type { Command, CommandSpec, Flag } from './command.ts';
