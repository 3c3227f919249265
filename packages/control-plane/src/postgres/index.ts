export { BUS_DATABASE, databaseName } from './database-name.ts';
export {
  adoptEmbeddedPostgres,
  type EmbeddedPostgresOptions,
  type RunningPostgres,
  startEmbeddedPostgres,
} from './embedded.ts';
export { PostgresError, type PostgresErrorCode } from './errors.ts';
export { PostmasterSupervisor, type PostmasterSupervisorOptions } from './postmaster-supervisor.ts';
export { postmasterPid } from './postmaster.ts';
export { type ProvisionOptions, provisionDatabases } from './provision.ts';
export { type PostgresHandle, type PostgresTimeouts, startPostgres } from './start-postgres.ts';
export {
  type PostmasterExit,
  type PostmasterWatch,
  type WatchedPostmaster,
  watchPostmaster,
} from './watch-postmaster.ts';
