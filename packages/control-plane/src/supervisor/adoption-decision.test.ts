import { describe, expect, it } from 'vitest';
import { type AdoptionCandidate, decideAdoption } from './adoption-decision.ts';

const healthy: AdoptionCandidate = {
  process: 'running',
  recordedFingerprint: 'abc',
  expectedFingerprint: 'abc',
  complete: true,
  liveness: { ok: true, detail: 'HTTP 200' },
};

describe('decideAdoption', () => {
  it.each<[string, Partial<AdoptionCandidate>, ReturnType<typeof decideAdoption>['action'], RegExp | null]>([
    ['adopts a running process of the same spec that answers its liveness probe', {}, 'adopt', null],
    ['forgets a process that is no longer running', { process: 'gone' }, 'forget', /no longer running/],
    [
      'forgets a pid reused by another program, leaving that program alone',
      { process: 'other-program' },
      'forget',
      /another program/,
    ],
    [
      'replaces a process whose fingerprint differs from what the spec starts now',
      { expectedFingerprint: 'def' },
      'replace',
      /another command or environment/,
    ],
    [
      'replaces a process whose workload or version left the spec',
      { expectedFingerprint: undefined },
      'replace',
      /no longer has its workload or version/,
    ],
    [
      'replaces a process of an older run that recorded no fingerprint',
      { recordedFingerprint: undefined },
      'replace',
      /older Flotilla/,
    ],
    [
      'replaces a process whose record lacks its port or token',
      { complete: false },
      'replace',
      /older Flotilla/,
    ],
    [
      'replaces a running process that fails its liveness probe, saying what the probe saw',
      { liveness: { ok: false, detail: 'no answer within 400 ms' } },
      'replace',
      /liveness probe \(no answer within 400 ms\)/,
    ],
    ['replaces a running process that was not probed', { liveness: undefined }, 'replace', /not probed/],
  ])('%s', (_name, change, action, reason) => {
    const decision = decideAdoption({ ...healthy, ...change });
    expect(decision.action).toBe(action);
    if (reason) expect('reason' in decision ? decision.reason : '').toMatch(reason);
  });
});
