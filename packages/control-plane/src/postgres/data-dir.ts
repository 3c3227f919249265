import { createHash } from 'node:crypto';
import { chmod, mkdir, readlink, realpath, rmdir, stat, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { statePaths } from '../state/index.ts';
import { PostgresError } from './errors.ts';

/** Where data goes that the postgres user could not reach inside its project. */
const OUTSIDE_PROJECTS = '/var/lib/flotilla';
/** Hex digits of the state directory's hash that tell two projects of the same system apart. */
const HASH_HEX = 12;

/** Where the embedded PostgreSQL keeps its data. */
export interface DataDirPlacement {
  /** The directory the server runs on. */
  dataDir: string;
  /** Set when this call put the data outside the project: the directory the postgres user may not pass. */
  unreachable?: string;
}

/**
 * Places the embedded PostgreSQL's data in `.flotilla/postgres`, unless Flotilla runs as root and
 * the server's `postgres` user cannot reach that directory (a project under /root, a 0700 temp
 * directory). Then the data goes in `/var/lib/flotilla/<system>-<hash of the state dir's path>`
 * (0700, given to the postgres user by initdb) and `.flotilla/postgres` becomes a symlink to it.
 * A later run follows the symlink; the name is the same on every run, so even a project whose link
 * was deleted finds its data again.
 */
export async function placeDataDir(stateDir: string, system: string): Promise<DataDirPlacement> {
  const link = statePaths(stateDir).postgresData;
  const linked = await linkTarget(link);
  if (linked !== undefined) return { dataDir: linked };
  if (process.getuid?.() !== 0) return { dataDir: link };
  const blocked = await untraversable(dirname(stateDir));
  if (blocked === undefined) {
    // Traverse-only (0711) lets the postgres user pass `.flotilla/` to reach its own directory
    // without listing anything; every secret file in there is 0600 regardless.
    await chmod(stateDir, ((await stat(stateDir)).mode & 0o777) | 0o011);
    return { dataDir: link };
  }

  await removeEmptyDir(link, blocked);
  const hash = createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, HASH_HEX);
  const dataDir = join(OUTSIDE_PROJECTS, `${system}-${hash}`);
  await mkdir(OUTSIDE_PROJECTS, { recursive: true, mode: 0o711 });
  await chmod(OUTSIDE_PROJECTS, 0o711);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await symlink(dataDir, link);
  return { dataDir, unreachable: blocked };
}

/** Where the symlink at `path` points, or undefined when `path` is no symlink. */
async function linkTarget(path: string): Promise<string | undefined> {
  try {
    return resolve(dirname(path), await readlink(path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EINVAL') return undefined;
    throw error;
  }
}

/**
 * Removes the data directory a start that failed on this very problem left behind (created, but
 * never initialised). One with data in it is not moved behind the user's back.
 */
async function removeEmptyDir(dataDir: string, blocked: string): Promise<void> {
  try {
    await rmdir(dataDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    throw new PostgresError(
      'FLOTILLA_POSTGRES_START_FAILED',
      `the postgres user, which PostgreSQL runs as under root, cannot reach ${dataDir} because it may not pass ${blocked}; run \`chmod o+x ${blocked}\`, or move ${dataDir} where it can reach it and leave a symlink to it in its place`,
      { cause: error },
    );
  }
}

/**
 * The first directory on the way to `dir`, itself included, that the postgres user may not pass,
 * or undefined when it may pass them all. The path is checked as written (the server is given it)
 * and with its symlinks resolved (the kernel passes their targets too). Only the execute bit for
 * others counts: the postgres user neither owns the directories above a project nor is it in their
 * group, and where it were, the data would only move out of the project needlessly.
 */
async function untraversable(dir: string): Promise<string | undefined> {
  const written = resolve(dir);
  for (const start of new Set([written, await realpath(written)])) {
    for (let at = start; ; at = dirname(at)) {
      if (((await stat(at)).mode & 0o001) === 0) return at;
      if (dirname(at) === at) break;
    }
  }
  return undefined;
}
