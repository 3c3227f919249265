import { loadSpec, type SystemSpec } from '@flotilla/spec';
import { type Command, type CommandSpec, parseCommandArgs } from '../command.ts';
import { EXIT } from '../exit-codes.ts';
import { FILE_FLAG } from '../spec-file.ts';

const spec = {
  name: 'validate',
  summary: 'check a system spec without starting anything',
  description: [
    'Reads the spec, checks it against the schema and checks that every service directory and entry',
    'file exists. Prints one line when it is valid; otherwise prints every problem as "path: message"',
    'on its own line to stderr and exits 1.',
  ].join('\n'),
  flags: { file: FILE_FLAG },
  examples: ['flotilla validate -f examples/hello/flotilla.yaml'],
} as const satisfies CommandSpec;

/** `flotilla validate`: loadSpec, and a one-line summary of what the spec describes. */
export const validate: Command = {
  spec,
  async run(argv) {
    const args = parseCommandArgs(spec, argv);
    if (!args) return EXIT.ok;
    const system = loadSpec(args.values.file);
    console.log(`${args.values.file}: system "${system.name}" is valid: ${describeSystem(system)}`);
    return EXIT.ok;
  },
};

/** "4 services, 7 instances, 5 routes": what `up` would start. */
export function describeSystem(system: SystemSpec): string {
  const services = Object.values(system.services);
  const instances = services.reduce(
    (sum, service) => sum + Object.values(service.versions).reduce((n, v) => n + v.replicas, 0),
    0,
  );
  return [
    count(services.length, 'service'),
    count(instances, 'instance'),
    count(system.gateway.routes.length, 'route'),
  ].join(', ');
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
