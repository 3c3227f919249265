import { describe, expect, it } from 'vitest';
import type { EjectionStatus, ReportedEjection } from '../types.ts';
import { currentEjections, OutlierStore } from './index.ts';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const at = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();
const ejection = (endpoint: string, untilOffsetMs: number): ReportedEjection => ({
  service: endpoint.split('-')[0]!,
  endpoint,
  until: at(untilOffsetMs),
  ejections: 1,
});

describe('currentEjections', () => {
  it.each<{ name: string; reports: [string, ReportedEjection[]][]; expected: [string, EjectionStatus][] }>([
    { name: 'is empty when nothing was reported', reports: [], expected: [] },
    {
      name: 'names the reporter and the end of an ejection in force',
      reports: [['gateway-v1-1', [ejection('orders-v1-2', 30_000)]]],
      expected: [['orders-v1-2', { by: ['gateway-v1-1'], until: at(30_000) }]],
    },
    {
      name: 'leaves out an ejection whose end has passed, or is now',
      reports: [['gateway-v1-1', [ejection('orders-v1-2', -1), ejection('orders-v1-3', 0)]]],
      expected: [],
    },
    {
      name: 'gathers the reporters of one endpoint, sorted by id, with the latest end',
      reports: [
        ['users-v1-10', [ejection('orders-v1-2', 10_000)]],
        ['gateway-v1-1', [ejection('orders-v1-2', 30_000)]],
        ['users-v1-2', [ejection('orders-v1-2', 20_000)]],
      ],
      expected: [['orders-v1-2', { by: ['gateway-v1-1', 'users-v1-2', 'users-v1-10'], until: at(30_000) }]],
    },
    {
      name: 'keeps a reporter whose ejection is in force and drops one whose ejection ended',
      reports: [
        ['gateway-v1-1', [ejection('orders-v1-2', 30_000)]],
        ['users-v1-1', [ejection('orders-v1-2', -5_000)]],
      ],
      expected: [['orders-v1-2', { by: ['gateway-v1-1'], until: at(30_000) }]],
    },
  ])('$name', ({ reports, expected }) => {
    expect([...currentEjections(new Map(reports), NOW)]).toEqual(expected);
  });
});

describe('OutlierStore', () => {
  const clock = { now: () => NOW };

  it('replaces what a reporter said before with its new list, and clears it with an empty one', () => {
    const store = new OutlierStore(clock);
    store.report('gateway-v1-1', [ejection('orders-v1-2', 30_000), ejection('orders-v1-3', 30_000)]);
    store.report('gateway-v1-1', [ejection('orders-v1-3', 30_000)]);
    expect([...store.ejections().keys()]).toEqual(['orders-v1-3']);
    store.report('gateway-v1-1', []);
    expect(store.ejections().size).toBe(0);
  });

  it('keeps the reports of other reporters when one reports again or is forgotten', () => {
    const store = new OutlierStore(clock);
    store.report('gateway-v1-1', [ejection('orders-v1-2', 30_000)]);
    store.report('users-v1-1', [ejection('orders-v1-2', 30_000)]);
    store.report('users-v1-1', []);
    expect(store.ejections().get('orders-v1-2')?.by).toEqual(['gateway-v1-1']);
    store.report('users-v1-1', [ejection('orders-v1-2', 30_000)]);
    store.forget('gateway-v1-1');
    expect(store.ejections().get('orders-v1-2')?.by).toEqual(['users-v1-1']);
  });

  it('stops showing an ejection once the clock passes its end', () => {
    let now = NOW;
    const store = new OutlierStore({ now: () => now });
    store.report('gateway-v1-1', [ejection('orders-v1-2', 30_000)]);
    expect(store.ejections().size).toBe(1);
    now += 30_000;
    expect(store.ejections().size).toBe(0);
  });

  it('does not show a restarted instance as ejected for what its predecessor did, even when a reporter sends that ejection again', () => {
    const store = new OutlierStore(clock);
    const old = ejection('orders-v1-2', 30_000);
    store.report('gateway-v1-1', [old, ejection('orders-v1-3', 30_000)]);
    store.report('users-v1-1', [old]);
    // orders-v1-2's process ends; the supervisor starts a new one under the same id.
    store.forget('orders-v1-2');
    expect([...store.ejections().keys()]).toEqual(['orders-v1-3']);
    // The gateway has not seen the table without orders-v1-2 yet, and reports its list again.
    store.report('gateway-v1-1', [old, ejection('orders-v1-3', 30_000)]);
    expect([...store.ejections().keys()]).toEqual(['orders-v1-3']);
  });

  it('shows an ejection of the new process of a restarted instance', () => {
    const store = new OutlierStore(clock);
    store.report('gateway-v1-1', [ejection('orders-v1-2', 30_000)]);
    store.forget('orders-v1-2');
    store.report('gateway-v1-1', [{ ...ejection('orders-v1-2', 60_000), ejections: 2 }]);
    expect(store.ejections().get('orders-v1-2')).toEqual({ by: ['gateway-v1-1'], until: at(60_000) });
  });
});
