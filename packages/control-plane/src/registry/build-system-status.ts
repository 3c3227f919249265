import type { SystemSpec } from '@flotilla/spec';
import type {
  BusStatus,
  EjectionStatus,
  InstanceStatus,
  MailStatus,
  ServiceStatus,
  SystemStatus,
  Workload,
} from '../types.ts';

/** Everything GET /v1/status reports, gathered by the control plane. */
export interface StatusInput {
  spec: SystemSpec;
  workloads: readonly Workload[];
  instances: readonly InstanceStatus[];
  /** Desired replicas per version of a workload, as the supervisor holds them now (after any scaling). */
  desiredReplicas: (workload: string) => Record<string, number>;
  revision: number;
  startedAt: string;
  adminUrl: string;
  gatewayUrl: string;
  postgres: SystemStatus['postgres'];
  /** Undefined until the mail step has run. */
  mail: MailStatus | undefined;
  /** Undefined until the bus step has run. */
  bus: BusStatus | undefined;
  /** Instances some process ejects as outliers now, by instance id. */
  ejections: ReadonlyMap<string, EjectionStatus>;
}

/** The system's status: each workload with its versions and instances, and who ejects which. Pure. */
export function buildSystemStatus(input: StatusInput): SystemStatus {
  const services: ServiceStatus[] = input.workloads.map((workload) => {
    const desired = input.desiredReplicas(workload.name);
    const names = [...new Set([...Object.keys(workload.versions), ...Object.keys(desired)])];
    const specVersions = input.spec.services[workload.name]?.versions;
    return {
      name: workload.name,
      kind: workload.kind,
      versions: names.map((name) => ({
        name,
        weight: specVersions ? (specVersions[name]?.weight ?? 0) : 100,
        replicas: desired[name] ?? workload.versions[name]?.replicas ?? 0,
      })),
      instances: input.instances
        .filter((i) => i.service === workload.name)
        .map((i) => ({ ...i, ejected: input.ejections.get(i.id) ?? null })),
    };
  });
  return {
    system: input.spec.name,
    specFile: input.spec.file,
    startedAt: input.startedAt,
    revision: input.revision,
    controlPlane: { url: input.adminUrl, pid: process.pid },
    gateway: { url: input.gatewayUrl },
    postgres: input.postgres,
    // Picked field by field: what holds the mail status also holds the sink's URL with its password.
    mail: input.mail ? { mode: input.mail.mode, address: input.mail.address } : null,
    // Picked field by field for the same reason: the bus's handle also holds its URL.
    bus: input.bus ? { kind: input.bus.kind, address: input.bus.address } : null,
    services,
  };
}
