export { SUPERVISOR_DEFAULTS } from '../defaults.ts';
export { SupervisorError, type SupervisorErrorCode } from './errors.ts';
export type { Clock, InstanceTokens } from './instance-context.ts';
export { type AdoptionCandidate, type AdoptionDecision, decideAdoption } from './adoption-decision.ts';
export { leftoverRuns, type ReapedProcess, reapLeftovers } from './reap-leftovers.ts';
export { type AdoptionReport, Supervisor, type SupervisorOptions } from './supervisor.ts';
