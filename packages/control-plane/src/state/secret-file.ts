import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { randomToken } from './random-token.ts';

/**
 * Reads a generated secret, creating it (0600, random) on first use. A missing file is created with
 * `wx` so that two runs racing on a fresh directory agree on one value instead of overwriting each
 * other; an empty one is corrupt and replaced.
 */
export async function readOrCreateSecret(path: string): Promise<string> {
  const existing = await readSecret(path);
  if (existing) return existing;
  const value = randomToken();
  try {
    await writeFile(path, `${value}\n`, { mode: 0o600, flag: existing === undefined ? 'wx' : 'w' });
    return value;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const raced = await readSecret(path);
    if (!raced) throw error;
    return raced;
  }
}

/**
 * Reads a private file (a secret, a key); undefined when it does not exist. A file that others
 * can read is tightened to 0600 rather than refused: what it holds is not worth less for it.
 */
export async function readPrivateFile(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600);
  return text;
}

/** Reads a secret file without its trailing newline; undefined when it does not exist. */
export async function readSecret(path: string): Promise<string | undefined> {
  return (await readPrivateFile(path))?.replace(/\r?\n$/, '');
}
