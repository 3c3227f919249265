export { buildRoutingTable } from './build-routing-table.ts';
export { buildSystemStatus, type StatusInput } from './build-system-status.ts';
export { buildWorkloads, GATEWAY_WORKLOAD, type WorkloadContext } from './build-workloads.ts';
export { INSTANCE_HOST } from './instance-host.ts';
export { Registry } from './registry.ts';
