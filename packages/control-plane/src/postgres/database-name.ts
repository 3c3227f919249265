import { createHash } from 'node:crypto';

/**
 * The name the PostgreSQL bus takes in place of a service's: its role and database are
 * `databaseName(system, BUS_DATABASE)` and its password is `.flotilla/secrets/postgres-bus`. The spec
 * reserves it as a service name, so no service can share them.
 */
export const BUS_DATABASE = 'bus';

/** PostgreSQL truncates identifiers past this many bytes, which could make two names collide. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * The role and database name of a service: `flotilla_<system>_<service>`, dashes turned into
 * underscores so the name needs no quoting in psql. Spec names are lowercase ASCII, so bytes are
 * characters. A name too long for PostgreSQL keeps its start and ends in a hash of the whole name,
 * so it stays unique and the same on every run.
 */
export function databaseName(system: string, service: string): string {
  const name = `flotilla_${system}_${service}`.replaceAll('-', '_');
  if (name.length <= MAX_IDENTIFIER_BYTES) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_IDENTIFIER_BYTES - hash.length - 1)}_${hash}`;
}
