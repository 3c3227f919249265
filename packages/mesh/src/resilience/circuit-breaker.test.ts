import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type CircuitBreakerPolicy, type CircuitBreakerVerdict } from './circuit-breaker.ts';

interface Endpoint {
  inFlight: number;
}

/** Sends and ends tries as the mesh call does: the endpoint's count without the try itself. */
function harness(policy: CircuitBreakerPolicy) {
  const breaker = new CircuitBreaker(policy);
  return {
    breaker,
    send(endpoint: Endpoint): CircuitBreakerVerdict {
      const verdict = breaker.tryAcquire(endpoint.inFlight);
      if (verdict === 'ok') endpoint.inFlight++;
      return verdict;
    },
    end(endpoint: Endpoint): void {
      endpoint.inFlight--;
      breaker.release(endpoint.inFlight);
    },
  };
}

const endpoints = (count: number): Endpoint[] => Array.from({ length: count }, () => ({ inFlight: 0 }));

describe('CircuitBreaker', () => {
  it('refuses tries past maxRequests in flight, and takes them again once one ends', () => {
    const { breaker, send, end } = harness({
      maxRequests: 3,
      maxPendingRequests: 10,
      maxConnectionsPerEndpoint: 10,
    });
    const [a] = endpoints(1) as [Endpoint];
    expect([send(a), send(a), send(a), send(a)]).toEqual(['ok', 'ok', 'ok', 'max-requests']);
    expect(breaker.active).toBe(3);
    end(a);
    expect(send(a)).toBe('ok');
    expect(breaker.overflows).toBe(1);
  });

  it.each([
    // connections per endpoint, max pending, tries sent to one endpoint, verdicts
    [2, 1, 4, ['ok', 'ok', 'ok', 'max-pending']],
    [2, 0, 3, ['ok', 'ok', 'max-pending']],
    [1, 2, 4, ['ok', 'ok', 'ok', 'max-pending']],
    [4, 0, 4, ['ok', 'ok', 'ok', 'ok']],
  ] as const)(
    'with %d connections and %d pending allowed, %d tries to one endpoint get %j',
    (connections, maxPending, tries, verdicts) => {
      const { send } = harness({
        maxRequests: 100,
        maxPendingRequests: maxPending,
        maxConnectionsPerEndpoint: connections,
      });
      const [a] = endpoints(1) as [Endpoint];
      expect(Array.from({ length: tries }, () => send(a))).toEqual(verdicts);
    },
  );

  it('counts waiting tries over every endpoint of the destination', () => {
    const { breaker, send } = harness({
      maxRequests: 100,
      maxPendingRequests: 2,
      maxConnectionsPerEndpoint: 1,
    });
    const [a, b, c] = endpoints(3) as [Endpoint, Endpoint, Endpoint];
    expect([send(a), send(b), send(c)]).toEqual(['ok', 'ok', 'ok']);
    expect([send(a), send(b), send(c)]).toEqual(['ok', 'ok', 'max-pending']);
    expect(breaker.pending).toBe(2);
  });

  it('lets a waiting try take the connection that an ending try frees', () => {
    const { breaker, send, end } = harness({
      maxRequests: 100,
      maxPendingRequests: 1,
      maxConnectionsPerEndpoint: 1,
    });
    const [a] = endpoints(1) as [Endpoint];
    send(a);
    send(a);
    expect(breaker.pending).toBe(1);
    end(a);
    expect(breaker.pending).toBe(0);
    expect(send(a)).toBe('ok');
    expect(breaker.pending).toBe(1);
  });

  it('checks maxRequests before maxPendingRequests', () => {
    const { send } = harness({ maxRequests: 1, maxPendingRequests: 0, maxConnectionsPerEndpoint: 1 });
    const [a] = endpoints(1) as [Endpoint];
    send(a);
    expect(send(a)).toBe('max-requests');
  });

  it('keeps pending equal to the tries beyond connections, summed over endpoints, under any interleaving', () => {
    const connections = 3;
    const { breaker, send, end } = harness({
      maxRequests: 40,
      maxPendingRequests: 12,
      maxConnectionsPerEndpoint: connections,
    });
    const list = endpoints(5);
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let step = 0; step < 20_000; step++) {
      const endpoint = list[Math.floor(random() * list.length)]!;
      if (random() < 0.55) send(endpoint);
      else if (endpoint.inFlight > 0) end(endpoint);
      const beyond = list.reduce((sum, e) => sum + Math.max(0, e.inFlight - connections), 0);
      const inFlight = list.reduce((sum, e) => sum + e.inFlight, 0);
      if (breaker.pending !== beyond || breaker.active !== inFlight) {
        expect({ step, pending: breaker.pending, active: breaker.active }).toEqual({
          step,
          pending: beyond,
          active: inFlight,
        });
      }
    }
    expect(breaker.overflows).toBeGreaterThan(0);
  });

  it('takes new limits without losing the tries in flight', () => {
    const { breaker, send } = harness({
      maxRequests: 2,
      maxPendingRequests: 10,
      maxConnectionsPerEndpoint: 10,
    });
    const [a] = endpoints(1) as [Endpoint];
    send(a);
    send(a);
    breaker.configure({ maxRequests: 3, maxPendingRequests: 10, maxConnectionsPerEndpoint: 10 });
    expect(breaker.active).toBe(2);
    expect([send(a), send(a)]).toEqual(['ok', 'max-requests']);
  });

  it('is exact again once idle after the connection limit changed with tries in flight', () => {
    const { breaker, send, end } = harness({
      maxRequests: 100,
      maxPendingRequests: 100,
      maxConnectionsPerEndpoint: 4,
    });
    const [a] = endpoints(1) as [Endpoint];
    for (let i = 0; i < 3; i++) send(a);
    breaker.configure({ maxRequests: 100, maxPendingRequests: 100, maxConnectionsPerEndpoint: 1 });
    for (let i = 0; i < 3; i++) end(a);
    expect(breaker.active).toBe(0);
    expect(breaker.pending).toBe(0);
    send(a);
    send(a);
    expect(breaker.pending).toBe(1);
  });
});
