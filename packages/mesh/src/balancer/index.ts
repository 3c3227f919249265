import type { Balancer, BalancerKind } from './balancer.ts';
import { LeastRequestBalancer } from './least-request.ts';
import { RoundRobinBalancer } from './round-robin.ts';

export type { Balancer, BalancerKind, BalancerTarget } from './balancer.ts';
export { LeastRequestBalancer } from './least-request.ts';
export { RoundRobinBalancer } from './round-robin.ts';

/** A new balancer of the given kind, for one list of endpoints. */
export function createBalancer(kind: BalancerKind): Balancer {
  switch (kind) {
    case 'least-request':
      return new LeastRequestBalancer();
    case 'round-robin':
      return new RoundRobinBalancer();
  }
}
