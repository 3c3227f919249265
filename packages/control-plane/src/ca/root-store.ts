import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { readPrivateFile } from '../state/index.ts';
import { createRoot, type IssuingRoot, readRoot } from './root.ts';

/** Files of the CA in its directory (`.flotilla/ca/`, 0700): the root certificate and its key, each 0600. */
export function caFiles(dir: string) {
  return { certificate: join(dir, 'root.pem'), key: join(dir, 'root-key.pem') };
}

/**
 * The issuing root kept in `dir`, or a new one written there when there is none or it is unusable
 * (unreadable, not a CA, expired, or not matching its key), with a log line that says which and
 * what follows. Only the issuing root is kept: a control plane that starts stops every instance of
 * the run before it, so no certificate from an older root is left in use.
 */
export async function loadOrCreateRoot(
  dir: string,
  system: string,
  nowMs: number,
  log: Logger,
): Promise<IssuingRoot> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const files = caFiles(dir);
  const [pem, keyPem] = await Promise.all([readPrivateFile(files.certificate), readPrivateFile(files.key)]);
  let problem: string;
  if (pem === undefined && keyPem === undefined) {
    problem = 'none';
  } else if (pem === undefined || keyPem === undefined) {
    problem = `${pem === undefined ? files.certificate : files.key} is missing`;
  } else {
    try {
      return await readRoot(pem, keyPem, nowMs);
    } catch (error) {
      problem = `${files.certificate} is unusable: ${(error as Error).message}`;
    }
  }
  const root = await createRoot(system, nowMs);
  await saveRoot(dir, root);
  if (problem === 'none') {
    log.info({ fingerprint: root.fingerprint, dir }, 'CA: created a new root');
  } else {
    log.warn(
      { fingerprint: root.fingerprint, dir },
      `CA: ${problem}; created a new root, so certificates issued by the old one are no longer trusted`,
    );
  }
  return root;
}

/**
 * Writes the root's key, then its certificate, each to a temporary file renamed into place, so a
 * reader never sees half a file. A stop between the two renames leaves a pair that does not match,
 * which the next start reports and replaces.
 */
export async function saveRoot(dir: string, root: IssuingRoot): Promise<void> {
  const files = caFiles(dir);
  await writePrivate(files.key, root.keyPem);
  await writePrivate(files.certificate, root.pem);
}

async function writePrivate(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await rename(temporary, path);
}
