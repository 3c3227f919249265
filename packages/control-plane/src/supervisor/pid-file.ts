import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SUPERVISOR_DEFAULTS } from '../defaults.ts';

/**
 * A running process as recorded for the next run: its pid and the entry file its command line
 * names, and what a later control plane needs to adopt it instead of restarting it (which workload
 * and version it runs, its port, the fingerprint of what it was started with, and the SHA-256 of
 * its instance token, never the token itself). Records of older runs lack the adoption fields;
 * their processes are replaced.
 */
export interface PidRecord {
  pid: number;
  entry: string;
  workload?: string;
  version?: string;
  /** Its number among the instances of its workload and version. */
  n?: number;
  port?: number;
  fingerprint?: string;
  tokenDigest?: string;
}

/** Instance id -> process, as kept in `<stateDir>/pids.json`. */
export type PidRecords = Record<string, PidRecord>;

/** Reads the records of a run; none when the file is missing or unreadable. */
export function readPidFile(stateDir: string): PidRecords {
  try {
    const parsed: unknown = JSON.parse(readFileSync(pidFilePath(stateDir), 'utf8'));
    return isPidRecords(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/**
 * Replaces the records. The write goes to a temporary file renamed over the old one, so a control
 * plane killed mid-write leaves the old records or the new ones, never half of either.
 */
export function writePidFile(stateDir: string, records: PidRecords): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = pidFilePath(stateDir);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(records, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}

/** Removes the records once nothing they name can be running. */
export function removePidFile(stateDir: string): void {
  rmSync(pidFilePath(stateDir), { force: true });
}

function pidFilePath(stateDir: string): string {
  return join(stateDir, SUPERVISOR_DEFAULTS.pidFile);
}

function isPidRecords(value: unknown): value is PidRecords {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.values(value).every(
    (record: unknown) =>
      typeof record === 'object' &&
      record !== null &&
      Number.isInteger((record as PidRecord).pid) &&
      (record as PidRecord).pid > 1 &&
      typeof (record as PidRecord).entry === 'string',
  );
}
