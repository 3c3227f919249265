import { statePaths } from './paths.ts';
import { readOrCreateSecret, readSecret } from './secret-file.ts';

/** The admin API's bearer token from `.flotilla/admin-token`, created (0600) on the first run and reused after. */
export function loadOrCreateAdminToken(stateDir: string): Promise<string> {
  return readOrCreateSecret(statePaths(stateDir).adminToken);
}

/** The admin token of a system, for clients such as the CLI; undefined when the system never ran. */
export async function readAdminToken(stateDir: string): Promise<string | undefined> {
  return (await readSecret(statePaths(stateDir).adminToken)) || undefined;
}
