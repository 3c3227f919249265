import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { StateError } from './errors.ts';
import { statePaths } from './paths.ts';
import { isProcessAlive } from './process-alive.ts';

/** `.flotilla/state.json`: written once a control plane is ready, removed when it stops. */
export interface StateFile {
  pid: number;
  adminUrl: string;
  gatewayUrl: string;
  specFile: string;
  startedAt: string;
}

/** The recorded run, or undefined when there is none (or the file is unreadable, as after a crash mid-write). */
export async function readStateFile(stateDir: string): Promise<StateFile | undefined> {
  let text: string;
  try {
    text = await readFile(statePaths(stateDir).stateFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const value = JSON.parse(text) as Partial<StateFile>;
    return typeof value.pid === 'number' && typeof value.adminUrl === 'string'
      ? (value as StateFile)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Writes state.json atomically (temp file + rename), so a reader never sees half of it. */
export async function writeStateFile(stateDir: string, state: StateFile): Promise<void> {
  const path = statePaths(stateDir).stateFile;
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, path);
}

/** Removes state.json; no error when it is already gone. */
export async function removeStateFile(stateDir: string): Promise<void> {
  await rm(statePaths(stateDir).stateFile, { force: true });
}

/**
 * Refuses to start when state.json names a live control plane. A record of a dead one is removed
 * and returned, so that the caller can reap what that run left behind.
 */
export async function claimStateDir(stateDir: string): Promise<StateFile | undefined> {
  const previous = await readStateFile(stateDir);
  if (!previous) return undefined;
  if (isProcessAlive(previous.pid)) {
    throw new StateError(
      'FLOTILLA_ALREADY_RUNNING',
      `already running at ${previous.adminUrl} (pid ${previous.pid}); run \`flotilla down\` first`,
    );
  }
  await removeStateFile(stateDir);
  return previous;
}
