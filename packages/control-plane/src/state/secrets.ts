import { join } from 'node:path';
import type { SystemSpec } from '@flotilla/spec';
import { StateError } from './errors.ts';
import { statePaths } from './paths.ts';
import { readSecret } from './secret-file.ts';

/**
 * Resolves every service's `secrets` names: the control plane's environment first, then
 * `.flotilla/secrets/NAME`. All missing secrets are reported at once, each with both places to put
 * it, before anything starts.
 */
export async function resolveSecrets(
  spec: SystemSpec,
  env: NodeJS.ProcessEnv,
): Promise<Record<string, Record<string, string>>> {
  const dir = statePaths(spec.stateDir).secrets;
  const resolved: Record<string, Record<string, string>> = {};
  const missing: string[] = [];
  for (const [service, svc] of Object.entries(spec.services)) {
    const values: Record<string, string> = {};
    for (const name of svc.secrets) {
      const value = env[name] ?? (await readSecret(join(dir, name)));
      if (value === undefined) {
        missing.push(
          `  service "${service}" needs secret ${name}: set ${name} in the environment of \`flotilla up\`, or write it to ${join(dir, name)} (mode 0600)`,
        );
      } else {
        values[name] = value;
      }
    }
    resolved[service] = values;
  }
  if (missing.length > 0) {
    throw new StateError(
      'FLOTILLA_SECRET_MISSING',
      `${missing.length === 1 ? 'a secret is' : `${missing.length} secrets are`} missing:\n${missing.join('\n')}`,
    );
  }
  return resolved;
}
