import type { Balancer, BalancerTarget } from './balancer.ts';

/**
 * Power of two choices: draw two distinct endpoints at random and take the one with fewer calls
 * in flight. A slow endpoint collects in-flight calls and so gets fewer new ones, without the
 * herding onto one endpoint that a full least-loaded scan causes across many clients.
 */
export class LeastRequestBalancer implements Balancer {
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  pick<T extends BalancerTarget>(targets: readonly T[]): T | undefined {
    const count = targets.length;
    if (count < 2) return targets[0];
    const first = Math.floor(this.#random() * count);
    // Draw the second from the other count - 1 slots so the two are always distinct.
    let second = Math.floor(this.#random() * (count - 1));
    if (second >= first) second++;
    const a = targets[first]!;
    const b = targets[second]!;
    return b.inFlight < a.inFlight ? b : a;
  }
}
