import type { Balancer, BalancerTarget } from './balancer.ts';

/** Each endpoint in turn. Starts at a random place so that many clients do not all begin on the first. */
export class RoundRobinBalancer implements Balancer {
  #next: number;

  constructor(random: () => number = Math.random) {
    this.#next = Math.floor(random() * 1024);
  }

  pick<T extends BalancerTarget>(targets: readonly T[]): T | undefined {
    if (targets.length === 0) return undefined;
    return targets[this.#next++ % targets.length];
  }
}
