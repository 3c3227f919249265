import { unlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The variable naming a directory of armed failpoints. Tests set it to make a process die at an
 * exact line; nothing sets it otherwise, and then a failpoint costs one environment lookup.
 */
export const FAILPOINTS_DIR_ENV = 'FLOTILLA_FAILPOINTS_DIR';

/**
 * A named crash point. When `$FLOTILLA_FAILPOINTS_DIR/<name>` exists, the file is removed and the
 * process kills itself with SIGKILL, as a power cut would: no handler, no flush, no goodbye. The
 * file is removed first, so the point fires once, even though a supervisor restarts the process
 * with the same environment. Arm it by creating the file; the crash tests of the shop do.
 */
export function failpoint(name: string, env: NodeJS.ProcessEnv = process.env): void {
  const dir = env[FAILPOINTS_DIR_ENV];
  if (!dir) return;
  try {
    unlinkSync(join(dir, name));
  } catch {
    return;
  }
  process.kill(process.pid, 'SIGKILL');
}
