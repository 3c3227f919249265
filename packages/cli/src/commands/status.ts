import { existsSync } from 'node:fs';
import { styleText } from 'node:util';
import type {
  InstanceStatus,
  PostgresState,
  ServiceStatus,
  SystemStatus,
} from '@flotilla/control-plane/types';
import { AdminClient } from '../admin-client.ts';
import { type Command, type CommandSpec, parseCommandArgs } from '../command.ts';
import { DEFAULTS } from '../defaults.ts';
import { EXIT } from '../exit-codes.ts';
import { formatDuration } from '../format-duration.ts';
import { localTime } from '../local-time.ts';
import { listRunning, type RunningSystem } from '../running-systems.ts';
import { FILE_FLAG, stateDirFor } from '../spec-file.ts';

const spec = {
  name: 'status',
  summary: 'show every service and instance of the running system',
  description: [
    'Asks the running control plane for the state of the system: the gateway, admin, mail and event',
    'bus addresses, PostgreSQL (the embedded server with its state, running, crashloop, restarting or',
    'down, its restarts and why it last ended), then a table per service: version, instance id, pid,',
    'port, state, restarts and uptime,',
    'with the reason of the last exit of any instance that is not ready, and, for an instance that some',
    "process's outlier detection keeps out of its balancer, who ejected it and until when.",
    'Exits 1 when the system is not running.',
    '',
    'Without --file, with neither flotilla.yaml nor .flotilla/ in the current directory, it lists the systems',
    'running from this user (each with its spec, state dir, admin and gateway URLs), and exits 1 when',
    'there is none. They are recorded in $XDG_STATE_HOME/flotilla/running (~/.local/state/flotilla/running).',
  ].join('\n'),
  flags: {
    file: FILE_FLAG,
    json: { type: 'boolean', description: 'print the status as the admin API returns it (SystemStatus)' },
  },
  examples: ['flotilla status', 'flotilla status --json | jq ".services[].instances[].state"'],
} as const satisfies CommandSpec;

/** `flotilla status`: GET /v1/status, as tables or as JSON. */
export const status: Command = {
  spec,
  async run(argv) {
    const args = parseCommandArgs(spec, argv);
    if (!args) return EXIT.ok;
    const stateDir = stateDirFor(args.values.file);
    // A state dir alone still leads to its system: its spec may have been removed while it runs.
    if (args.values.file === DEFAULTS.specFile && !existsSync(DEFAULTS.specFile) && !existsSync(stateDir)) {
      const running = listRunning();
      if (args.values.json) console.log(JSON.stringify({ systems: running }, null, 2));
      else console.log(renderRunningSystems(running, Date.now()));
      return running.length > 0 ? EXIT.ok : EXIT.failure;
    }
    const system = await AdminClient.connect(stateDir).status();
    if (args.values.json) console.log(JSON.stringify(system, null, 2));
    else console.log(renderStatus(system, Date.now(), Boolean(process.stdout.isTTY)));
    return EXIT.ok;
  },
};

const STATE_STYLES: Partial<Record<InstanceStatus['state'], Parameters<typeof styleText>[0]>> = {
  ready: 'green',
  starting: 'yellow',
  unready: 'yellow',
  stopping: 'yellow',
  crashloop: 'red',
  failed: 'red',
};

/** The status as people read it; `now` makes uptimes testable, `color` is for terminals only. */
export function renderStatus(system: SystemStatus, now: number, color: boolean): string {
  const since = (iso: string | null) => (iso ? formatDuration(now - Date.parse(iso)) : '-');
  const lines = [
    `${system.system}: up ${since(system.startedAt)}, control plane pid ${system.controlPlane.pid}, table revision ${system.revision}`,
    `  gateway  ${system.gateway.url}`,
    `  admin    ${system.controlPlane.url}`,
    `  mail     ${mailLine(system.mail)}`,
    `  bus      ${busLine(system.bus)}`,
    `  postgres ${postgresLine(system.postgres, color)}`,
  ];
  for (const service of system.services) {
    lines.push('', serviceHeading(service));
    const rows = service.instances.map((i) => [
      i.version,
      i.id,
      i.pid === null ? '-' : String(i.pid),
      String(i.port),
      i.state,
      String(i.restarts),
      i.pid === null ? '-' : since(i.startedAt),
    ]);
    if (rows.length === 0) {
      lines.push('  no instances');
      continue;
    }
    const table = [['VERSION', 'INSTANCE', 'PID', 'PORT', 'STATE', 'RESTARTS', 'UPTIME'], ...rows];
    const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
    table.forEach((row, r) => {
      const cells = row.map((cell, col) => {
        const padded = col === row.length - 1 ? cell : cell.padEnd(widths[col]!);
        const style = r > 0 && col === 4 ? STATE_STYLES[cell as InstanceStatus['state']] : undefined;
        return color && style ? styleText(style, padded, { validateStream: false }) : padded;
      });
      lines.push(`  ${cells.join('  ')}`);
    });
    for (const instance of service.instances) {
      if (instance.state !== 'ready' && instance.lastExit) {
        lines.push(`  ${instance.id}: ${instance.lastExit.reason}`);
      }
    }
    // A control plane from before outlier reports sends no `ejected` at all.
    for (const instance of service.instances) {
      if (instance.ejected) {
        lines.push(
          `  ${instance.id}: ejected by ${instance.ejected.by.join(', ')} until ${localTime(instance.ejected.until)}`,
        );
      }
    }
  }
  return lines.join('\n');
}

/** The systems running from this user, for `flotilla status` where there is no spec. */
export function renderRunningSystems(systems: readonly RunningSystem[], now: number): string {
  const here = `no ${DEFAULTS.specFile} in this directory`;
  if (systems.length === 0) {
    return `${here}, and no system is running from this user; start one with: flotilla up -f <spec>`;
  }
  const n = systems.length;
  const rows = systems.map((s) => [
    s.name,
    s.specFile,
    s.stateDir,
    s.adminUrl,
    s.gatewayUrl,
    String(s.pid),
    formatDuration(now - Date.parse(s.startedAt)),
  ]);
  const table = [['SYSTEM', 'SPEC', 'STATE DIR', 'ADMIN', 'GATEWAY', 'PID', 'UP'], ...rows];
  const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
  return [
    `${here}; ${n} system${n === 1 ? '' : 's'} running from this user:`,
    ...table.map(
      (row) =>
        `  ${row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  ')}`,
    ),
    'see one with: flotilla status -f <spec>',
  ].join('\n');
}

/** Where mail goes. A control plane that is still starting (or predates mail) reports none. */
function mailLine(mail: SystemStatus['mail'] | undefined): string {
  if (!mail) return '-';
  return mail.mode === 'sink'
    ? `SMTP sink ${mail.address} (flotilla mail lists what arrived)`
    : `SMTP relay ${mail.address}`;
}

/** Which event bus the services use. A control plane that is still starting (or predates the bus) reports none. */
function busLine(bus: SystemStatus['bus'] | undefined): string {
  if (!bus) return '-';
  if (bus.kind === 'none') return 'none (no service has events)';
  const name = bus.kind === 'postgres' ? 'PostgreSQL' : 'RabbitMQ';
  return `${name} ${bus.address} (flotilla dead-letters lists failed events)`;
}

const POSTGRES_STYLES: Record<PostgresState, Parameters<typeof styleText>[0]> = {
  running: 'green',
  restarting: 'yellow',
  crashloop: 'red',
  down: 'red',
};

/**
 * Where PostgreSQL runs and, for the embedded server the control plane supervises, its state, pid
 * and restarts, with why it last ended once it has. A control plane from before supervision sends
 * no `server`.
 */
function postgresLine(postgres: SystemStatus['postgres'], color: boolean): string {
  if (postgres.mode === 'none') return 'none (no service has a database)';
  const where = `${postgres.mode} ${postgres.host}:${postgres.port}`;
  const server = postgres.server;
  if (!server) return where;
  const state = color
    ? styleText(POSTGRES_STYLES[server.state], server.state, { validateStream: false })
    : server.state;
  const parts = [`${where}, ${state}${server.pid === null ? '' : ` (pid ${server.pid})`}`];
  if (server.nextRestartAt) parts.push(`restarting at ${localTime(server.nextRestartAt)}`);
  if (server.restarts > 0 || server.lastExit) {
    parts.push(`${server.restarts} ${server.restarts === 1 ? 'restart' : 'restarts'}`);
  }
  if (server.lastExit) parts.push(`last ended ${localTime(server.lastExit.at)}: ${server.lastExit.reason}`);
  return parts.join(', ');
}

/** `orders  v1 90% x2, v2 10% x1`; the gateway has no traffic split, only replicas. */
function serviceHeading(service: ServiceStatus): string {
  if (service.kind === 'gateway') {
    return `${service.name}  x${service.versions.reduce((n, v) => n + v.replicas, 0)}`;
  }
  return `${service.name}  ${service.versions.map((v) => `${v.name} ${v.weight}% x${v.replicas}`).join(', ')}`;
}
