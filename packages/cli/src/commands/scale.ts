import type { SystemStatus } from '@flotilla/control-plane/types';
import { AdminClient } from '../admin-client.ts';
import { type Command, type CommandSpec, parseCommandArgs, renderUsage } from '../command.ts';
import { UsageError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { FILE_FLAG, stateDirFor } from '../spec-file.ts';

const spec = {
  name: 'scale',
  summary: 'change how many instances of a service run',
  positionals: ['service', 'n'],
  description: [
    'Asks the running control plane to run <n> instances of every version of <service> (0 stops them',
    'all), or of one version with --version. New instances get traffic once they are ready; removed',
    'ones are drained first. The spec file is not changed: the next `flotilla up` starts from it again.',
  ].join('\n'),
  flags: {
    version: { type: 'string', value: 'v', description: 'scale only this version of the service' },
    file: FILE_FLAG,
  },
  examples: ['flotilla scale orders 3', 'flotilla scale orders 1 --version v2'],
} as const satisfies CommandSpec;

/** `flotilla scale`: POST /v1/services/:service/scale, reporting the replica count before and after. */
export const scale: Command = {
  spec,
  async run(argv) {
    const args = parseCommandArgs(spec, argv);
    if (!args) return EXIT.ok;
    const [service, n] = args.positionals as [string, string];
    if (!/^\d+$/.test(n)) {
      throw new UsageError(`<n> must be a whole number >= 0, got "${n}"`, renderUsage(spec));
    }
    const replicas = Number(n);
    const { version } = args.values;
    const client = AdminClient.connect(stateDirFor(args.values.file));
    const before = scaledVersions(await client.status(), service, version);
    await client.scale(service, replicas, version);
    console.log(`${service}${version ? ` ${version}` : ''}: ${describeScale(replicas, before)}`);
    return EXIT.ok;
  },
};

/** The versions a scale applies to, as the API applies it: the named one, or every version. */
function scaledVersions(system: SystemStatus, service: string, version: string | undefined) {
  const versions = system.services.find((s) => s.name === service)?.versions ?? [];
  return versions.filter((v) => version === undefined || v.name === version);
}

/** "3 replicas (was 2)", or "3 replicas per version (was v1 2, v2 1)" for several versions. */
function describeScale(replicas: number, before: readonly { name: string; replicas: number }[]): string {
  const count = `${replicas} replica${replicas === 1 ? '' : 's'}${before.length > 1 ? ' per version' : ''}`;
  if (before.length === 0) return count;
  if (before.length === 1) return `${count} (was ${before[0]!.replicas})`;
  return `${count} (was ${before.map((v) => `${v.name} ${v.replicas}`).join(', ')})`;
}
