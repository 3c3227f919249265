import { describe, expect, it } from 'vitest';
import {
  describeExit,
  livenessFailedReason,
  spawnFailedReason,
  startupTimeoutReason,
} from './exit-reason.ts';

describe('exit reasons', () => {
  it.each([
    [1, null, 'exited with code 1'],
    [0, null, 'exited with code 0'],
    [null, 'SIGKILL', 'killed by SIGKILL'],
    [null, 'SIGTERM', 'killed by SIGTERM'],
    [null, null, 'exited with code unknown'],
  ])('describes code %s and signal %s as "%s"', (code, signal, expected) => {
    expect(describeExit(code, signal)).toBe(expected);
  });

  it('names the probe failures, the startup timeout and a failed spawn as a person would', () => {
    expect(livenessFailedReason(3, 'HTTP 500')).toBe('liveness probe failed 3 times (HTTP 500)');
    expect(startupTimeoutReason(30_000)).toBe('not ready within 30000 ms');
    expect(
      startupTimeoutReason(30_000, 'HTTP 503: not ready: waiting for the JWKS at http://users/jwks'),
    ).toBe(
      'not ready within 30000 ms (last readiness probe: HTTP 503: not ready: waiting for the JWKS at http://users/jwks)',
    );
    expect(spawnFailedReason(new Error('spawn node ENOENT'))).toBe('could not start: spawn node ENOENT');
  });
});
