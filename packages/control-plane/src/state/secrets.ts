import { join } from 'node:path';
import type { SystemSpec } from '@flotilla/spec';
import { StateError } from './errors.ts';
import { statePaths } from './paths.ts';
import { readOrCreateSecret, readSecret } from './secret-file.ts';

/**
 * Resolves every service's `secrets`: the control plane's environment first, then
 * `.flotilla/secrets/NAME`. A secret marked `generate` that is in neither place is created there at
 * random (0600) and kept, and `onGenerated` hears where. All missing secrets are reported at once,
 * each with both places to put it, before anything starts.
 */
export async function resolveSecrets(
  spec: SystemSpec,
  env: NodeJS.ProcessEnv,
  onGenerated: (service: string, name: string, path: string) => void = () => {},
): Promise<Record<string, Record<string, string>>> {
  const dir = statePaths(spec.stateDir).secrets;
  const resolved: Record<string, Record<string, string>> = {};
  const missing: string[] = [];
  for (const [service, svc] of Object.entries(spec.services)) {
    const values: Record<string, string> = {};
    for (const { name, generate } of svc.secrets) {
      const path = join(dir, name);
      let value = env[name] ?? (await readSecret(path));
      if (value === undefined && generate) {
        value = await readOrCreateSecret(path);
        onGenerated(service, name, path);
      }
      if (value === undefined) {
        missing.push(
          `  service "${service}" needs secret ${name}: set ${name} in the environment of \`flotilla up\`, or write it to ${path} (mode 0600)`,
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
