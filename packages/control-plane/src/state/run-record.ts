import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { statePaths } from './paths.ts';

/**
 * `.flotilla/run.json` (0600): what the running processes of a system were given and cannot be
 * told again without a restart: the ports they reach the control plane and the SMTP sink on, the
 * data-plane token they watch with, the gateway's shared port and the embedded PostgreSQL's port.
 * A control plane that starts while the record of a killed one is still there reuses all of it,
 * so that the processes it adopts find it where they knew the last one. A clean stop removes it.
 */
export interface RunRecord {
  adminPort: number;
  gatewayPort: number;
  dataPlaneToken: string;
  /** The built-in sink's port and password; null when a relay is configured. */
  smtp: { port: number; password: string } | null;
  /** The embedded PostgreSQL's port; null when there is none. */
  postgres: { port: number } | null;
}

/** The record of an earlier run that did not stop cleanly; undefined when there is none or it is unreadable. */
export async function readRunRecord(stateDir: string): Promise<RunRecord | undefined> {
  let text: string;
  try {
    text = await readFile(statePaths(stateDir).runRecord, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as Partial<RunRecord>;
    const port = (n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) < 65_536;
    if (!port(value.adminPort) || !port(value.gatewayPort) || typeof value.dataPlaneToken !== 'string')
      return undefined;
    return {
      adminPort: value.adminPort!,
      gatewayPort: value.gatewayPort!,
      dataPlaneToken: value.dataPlaneToken,
      smtp:
        port(value.smtp?.port) && typeof value.smtp?.password === 'string'
          ? { port: value.smtp.port, password: value.smtp.password }
          : null,
      postgres: port(value.postgres?.port) ? { port: value.postgres!.port } : null,
    };
  } catch {
    return undefined;
  }
}

/** Writes run.json atomically (temp file + rename) and readable by its owner only: it holds a token. */
export async function writeRunRecord(stateDir: string, record: RunRecord): Promise<void> {
  const path = statePaths(stateDir).runRecord;
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, path);
}

/** Removes run.json once nothing it was given to runs any more; no error when it is already gone. */
export async function removeRunRecord(stateDir: string): Promise<void> {
  await rm(statePaths(stateDir).runRecord, { force: true });
}
