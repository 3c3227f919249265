import type { CaRotation } from '@flotilla/control-plane/types';
import { closest } from '@flotilla/spec';
import { AdminClient } from '../admin-client.ts';
import { type Command, type CommandSpec, parseCommandArgs, renderUsage } from '../command.ts';
import { UsageError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { localTime } from '../local-time.ts';
import { FILE_FLAG, stateDirFor } from '../spec-file.ts';

const rotateSpec = {
  name: 'ca rotate',
  summary: "replace the root of the mesh's certificate authority",
  description: [
    "Makes a new root for the mesh's certificate authority (kept in .flotilla/ca/). New certificates",
    'come from it at once; the old root stays in the trust bundle of the routing table while some',
    'running instance still holds a certificate of it. Instances see the new root in the table and',
    'renew their certificates from it without waiting for them to expire; once every running instance',
    'has, the old root is dropped and the table is published again. Exits 1 when the system is not',
    'running, or when mesh.mtls is "disable" (there is no CA then).',
  ].join('\n'),
  flags: {
    json: { type: 'boolean', description: 'print what the admin API returns (CaRotation)' },
    file: FILE_FLAG,
  },
  examples: ['flotilla ca rotate', 'flotilla ca rotate --json'],
} as const satisfies CommandSpec;

const SUBCOMMANDS = ['rotate'];

const spec = {
  name: 'ca',
  summary: "manage the mesh's certificate authority (rotate its root)",
  optionalPositionals: ['action'],
  subcommands: [rotateSpec],
  description: [
    "The control plane is the mesh's certificate authority: every instance gets a short-lived",
    'certificate naming its workload and version (spiffe://flotilla.local/ns/<system>/sa/<service>/v/<version>),',
    'issued by a root kept in .flotilla/ca/. "rotate" replaces that root; see "flotilla ca rotate --help".',
  ].join('\n'),
  flags: { file: FILE_FLAG },
  examples: ['flotilla ca rotate'],
} as const satisfies CommandSpec;

/** `flotilla ca rotate`: POST /v1/ca/rotate, and what it did, as people read it. */
export const ca: Command = {
  spec,
  async run(argv) {
    if (argv[0] === 'rotate') return rotate(argv.slice(1));
    const args = parseCommandArgs(spec, argv);
    if (!args) return EXIT.ok;
    const [action] = args.positionals;
    if (action === undefined)
      throw new UsageError('missing what to do: flotilla ca rotate', renderUsage(spec));
    const hint = closest(action, SUBCOMMANDS);
    throw new UsageError(
      `unknown action "${action}"${hint ? `, did you mean "${hint}"?` : ''}; flotilla ca has: ${SUBCOMMANDS.join(', ')}`,
      renderUsage(spec),
    );
  },
};

async function rotate(argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(rotateSpec, argv);
  if (!args) return EXIT.ok;
  const rotation = await AdminClient.connect(stateDirFor(args.values.file)).rotateCa();
  console.log(args.values.json ? JSON.stringify(rotation, null, 2) : renderRotation(rotation));
  return EXIT.ok;
}

/** What a rotation did, in a few lines. */
export function renderRotation(rotation: CaRotation): string {
  const waiting = rotation.trustBundleSize > 1;
  return [
    `CA: new root ${rotation.fingerprint}, valid until ${localTime(rotation.notAfter)}`,
    waiting
      ? `trust bundle: ${rotation.trustBundleSize} roots; the old root stays trusted until every running instance has renewed its certificate from the new one (they do so on their own)`
      : 'trust bundle: 1 root; no running instance held a certificate of the old root, so it is no longer trusted',
  ].join('\n');
}
