import type { SystemStatus } from '@flotilla/control-plane/types';
import { describe, expect, it } from 'vitest';
import { localTime } from '../local-time.ts';
import { renderStatus } from './status.ts';

function statusWith(postgres: SystemStatus['postgres']): SystemStatus {
  return {
    system: 'shop',
    specFile: '/srv/shop/flotilla.yaml',
    startedAt: '2026-01-01T12:00:00.000Z',
    revision: 1,
    controlPlane: { url: 'http://127.0.0.1:7070', pid: 100 },
    gateway: { url: 'http://127.0.0.1:8080' },
    postgres,
    mail: null,
    bus: null,
    services: [],
  };
}

const postgresLine = (postgres: SystemStatus['postgres'], color = false) =>
  renderStatus(statusWith(postgres), Date.now(), color)
    .split('\n')
    .find((line) => line.startsWith('  postgres '));

const KILLED = { code: null, signal: 'SIGKILL', at: '2026-01-01T12:10:00.000Z', reason: 'killed by SIGKILL' };

describe('the PostgreSQL line of flotilla status', () => {
  it.each<[string, SystemStatus['postgres'], string]>([
    [
      'says when no service has a database',
      { mode: 'none', host: null, port: null },
      'none (no service has a database)',
    ],
    [
      'names an external server by host and port',
      { mode: 'external', host: 'db', port: 5432 },
      'external db:5432',
    ],
    [
      'shows the embedded server running with its pid',
      {
        mode: 'embedded',
        host: '127.0.0.1',
        port: 5433,
        server: { state: 'running', pid: 42, restarts: 0, lastExit: null, nextRestartAt: null },
      },
      'embedded 127.0.0.1:5433, running (pid 42)',
    ],
    [
      'counts its restarts and says why it last ended once it has been restarted',
      {
        mode: 'embedded',
        host: '127.0.0.1',
        port: 5433,
        server: { state: 'running', pid: 43, restarts: 1, lastExit: KILLED, nextRestartAt: null },
      },
      `embedded 127.0.0.1:5433, running (pid 43), 1 restart, last ended ${localTime(KILLED.at)}: killed by SIGKILL`,
    ],
    [
      'says when a crashed server restarts',
      {
        mode: 'embedded',
        host: '127.0.0.1',
        port: 5433,
        server: {
          state: 'crashloop',
          pid: null,
          restarts: 2,
          lastExit: KILLED,
          nextRestartAt: '2026-01-01T12:10:04.000Z',
        },
      },
      `embedded 127.0.0.1:5433, crashloop, restarting at ${localTime('2026-01-01T12:10:04.000Z')}, 2 restarts, last ended ${localTime(KILLED.at)}: killed by SIGKILL`,
    ],
    [
      'shows only where it runs for a control plane from before supervision',
      { mode: 'embedded', host: '127.0.0.1', port: 5433 },
      'embedded 127.0.0.1:5433',
    ],
  ])('%s', (_name, postgres, expected) => {
    expect(postgresLine(postgres)).toBe(`  postgres ${expected}`);
  });

  it('colours the state on a terminal', () => {
    const server = {
      state: 'crashloop',
      pid: null,
      restarts: 1,
      lastExit: KILLED,
      nextRestartAt: null,
    } as const;
    expect(postgresLine({ mode: 'embedded', host: '127.0.0.1', port: 5433, server }, true)).toContain(
      '\u001b[31mcrashloop',
    );
  });
});
