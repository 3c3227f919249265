export { SUPERVISOR_DEFAULTS } from '../defaults.ts';
export { SupervisorError, type SupervisorErrorCode } from './errors.ts';
export type { Clock, InstanceTokens } from './instance-context.ts';
export { type ReapedProcess, reapLeftovers } from './reap-leftovers.ts';
export { Supervisor, type SupervisorOptions } from './supervisor.ts';
