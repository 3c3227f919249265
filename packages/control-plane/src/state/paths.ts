import { join } from 'node:path';

/** Where each piece of local state lives inside `.flotilla/`; the one place that knows the layout. */
export function statePaths(stateDir: string) {
  return {
    root: stateDir,
    gitignore: join(stateDir, '.gitignore'),
    adminToken: join(stateDir, 'admin-token'),
    stateFile: join(stateDir, 'state.json'),
    /** What the running processes were given (ports, tokens), for a control plane that adopts them. */
    runRecord: join(stateDir, 'run.json'),
    secrets: join(stateDir, 'secrets'),
    postgresData: join(stateDir, 'postgres'),
    logs: join(stateDir, 'logs'),
    mail: join(stateDir, 'mail'),
    /** The mesh's certificate authority: its root and the root's key. */
    ca: join(stateDir, 'ca'),
  };
}
