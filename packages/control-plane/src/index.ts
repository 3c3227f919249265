export { ApiError, type ApiErrorCode, ApiListenError, type ApiListenErrorCode } from './api/index.ts';
export { BusError, type BusErrorCode } from './bus/index.ts';
export { type ControlPlane, type ControlPlaneOptions, startControlPlane } from './control-plane.ts';
export { MailError, type MailErrorCode } from './mail/index.ts';
export { PostgresError, type PostgresErrorCode } from './postgres/index.ts';
export {
  isProcessAlive,
  readAdminToken,
  readStateFile,
  StateError,
  type StateErrorCode,
  type StateFile,
} from './state/index.ts';
export { SupervisorError, type SupervisorErrorCode } from './supervisor/index.ts';
export type {
  BusStatus,
  CaRotation,
  CertificateGrant,
  DeadLetterEntry,
  DeadLetterList,
  DeadLetterReplay,
  EjectionStatus,
  InstanceReport,
  InstanceState,
  InstanceStatus,
  LogLine,
  MailList,
  MailMessage,
  MailStatus,
  ReportedEjection,
  ServiceStatus,
  SystemStatus,
  Workload,
} from './types.ts';
