import { dirname, join, relative, resolve } from 'node:path';
import type { Flag } from './command.ts';
import { DEFAULTS } from './defaults.ts';

/** The `-f, --file` flag that every command but `logs` shares. */
export const FILE_FLAG = {
  type: 'string',
  short: 'f',
  value: 'path',
  default: DEFAULTS.specFile,
  description: 'the system spec',
} as const satisfies Flag;

/**
 * The state dir of a spec file: `.flotilla/` beside it, as SystemSpec.stateDir says. Worked out
 * from the path alone so that `down`, `status`, `logs` and `scale` still reach a running system
 * after its spec was edited into something invalid, or removed.
 */
export function stateDirFor(specFile: string): string {
  return join(dirname(resolve(specFile)), '.flotilla');
}

/** A path as the user would type it from here: relative when below the current directory. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}
