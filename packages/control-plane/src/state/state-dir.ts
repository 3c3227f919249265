import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { statePaths } from './paths.ts';

/**
 * Creates `.flotilla/` (0700) and its `secrets/` (0700), with a `.gitignore` of `*` so that tokens,
 * secrets and data are never committed. The mode is enforced on every run, not only on creation,
 * because the directory may predate Flotilla or have been loosened by hand.
 */
export async function ensureStateDir(stateDir: string): Promise<void> {
  const paths = statePaths(stateDir);
  await mkdir(paths.root, { recursive: true, mode: 0o700 });
  await chmod(paths.root, 0o700);
  await mkdir(paths.secrets, { recursive: true, mode: 0o700 });
  await chmod(paths.secrets, 0o700);
  await writeFile(paths.gitignore, '*\n', { mode: 0o644 });
}
