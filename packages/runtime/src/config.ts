import { readFileSync } from 'node:fs';
import { RuntimeError } from './errors.ts';

/** A setting from the environment; throws naming the variable when it is unset and has no fallback. */
export function config(name: string, fallback?: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name] ?? fallback;
  if (value === undefined) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_MISSING',
      `Missing required setting ${name}: set the ${name} variable.`,
    );
  }
  return value;
}

/**
 * A secret from the environment variable `name`, or from the file named by `name_FILE` (how
 * container platforms mount secrets). One trailing newline of a file is dropped. Throws naming
 * the variables when neither is set, never echoing a value.
 */
export function secret(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const fileVar = `${name}_FILE`;
  const value = env[name];
  const file = env[fileVar];
  if (value && file) {
    throw new RuntimeError('FLOTILLA_CONFIG_INVALID', `Secret ${name}: set ${name} or ${fileVar}, not both.`);
  }
  if (value) return value;
  if (!file) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_MISSING',
      `Missing required secret ${name}: set ${name}, or ${fileVar} to a file holding it.`,
    );
  }
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new RuntimeError(
      'FLOTILLA_SECRET_UNREADABLE',
      `Cannot read secret ${name} from ${fileVar}=${file}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`,
      { cause },
    );
  }
  const trimmed = content.replace(/\r?\n$/, '');
  if (trimmed === '') {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_MISSING',
      `Secret ${name}: the file ${file} named by ${fileVar} is empty.`,
    );
  }
  return trimmed;
}
