export { BUS_DATABASE, databaseName } from './database-name.ts';
export { type EmbeddedPostgresOptions, type RunningPostgres, startEmbeddedPostgres } from './embedded.ts';
export { PostgresError, type PostgresErrorCode } from './errors.ts';
export { type ProvisionOptions, provisionDatabases } from './provision.ts';
export { type PostgresHandle, type PostgresTimeouts, startPostgres } from './start-postgres.ts';
