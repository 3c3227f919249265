import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type ControlPlaneState, isAlive, readState } from './admin-client.ts';

/** A system that runs from this machine's user, as `flotilla status` lists it outside any spec's directory. */
export interface RunningSystem extends ControlPlaneState {
  name: string;
  stateDir: string;
}

/** What the registry keeps per running system: where to find its state.json, which stays the truth. */
interface Entry {
  name: string;
  stateDir: string;
  pid: number;
}

/**
 * The user's registry of running systems: `$XDG_STATE_HOME/flotilla/running`, or
 * `~/.local/state/flotilla/running` (the XDG default) when XDG_STATE_HOME is unset.
 */
export function registryDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'flotilla', 'running');
}

function entryFile(dir: string, stateDir: string): string {
  return join(dir, `${createHash('sha256').update(stateDir).digest('hex').slice(0, 16)}.json`);
}

/** Records a control plane that is up, so that `flotilla status` finds it from anywhere. */
export function recordRunning(entry: Entry, dir = registryDir()): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = entryFile(dir, entry.stateDir);
  // Written whole and renamed, so that a concurrent `status` never reads half an entry.
  writeFileSync(`${file}.${process.pid}.tmp`, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  renameSync(`${file}.${process.pid}.tmp`, file);
}

/** Removes the entry of a control plane that has stopped (if it is still this pid's). */
export function forgetRunning(stateDir: string, pid: number, dir = registryDir()): void {
  const file = entryFile(dir, stateDir);
  if (readEntry(file)?.pid === pid) rmSync(file, { force: true });
}

/**
 * The systems running from this user, oldest first. An entry whose control plane is gone (killed,
 * so it could not remove it, or its state dir deleted) is pruned here: a live pid with the same
 * state.json is the proof that it runs.
 */
export function listRunning(dir = registryDir()): RunningSystem[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const running: RunningSystem[] = [];
  for (const name of files) {
    const file = join(dir, name);
    const entry = readEntry(file);
    const state = entry && stateOf(entry);
    if (!entry || !state) {
      rmSync(file, { force: true });
      continue;
    }
    running.push({ ...state, name: entry.name, stateDir: entry.stateDir });
  }
  return running.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

function stateOf(entry: Entry): ControlPlaneState | undefined {
  try {
    const state = readState(entry.stateDir);
    return state?.pid === entry.pid && isAlive(state.pid) ? state : undefined;
  } catch {
    // An unreadable state dir is no proof of a running system.
    return undefined;
  }
}

function readEntry(file: string): Entry | undefined {
  try {
    const entry = JSON.parse(readFileSync(file, 'utf8')) as Entry;
    return typeof entry.stateDir === 'string' && Number.isInteger(entry.pid) ? entry : undefined;
  } catch {
    return undefined;
  }
}
