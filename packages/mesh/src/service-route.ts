import type { Balancer } from './balancer/index.ts';
import type { Upstream } from './upstream.ts';
import { chooseVersion, type WeightedVersion } from './version-choice.ts';

/** The ready endpoints of one version of a service, with the balancer that picks among them. */
export interface VersionGroup extends WeightedVersion {
  readonly name: string;
  readonly upstreams: readonly Upstream[];
  readonly balancer: Balancer;
}

/** Where calls to one service go, built once per routing table. */
export class ServiceRoute {
  readonly name: string;
  /** Only versions with at least one ready endpoint. */
  readonly #groups: readonly VersionGroup[];
  readonly #totalWeight: number;

  constructor(name: string, groups: readonly VersionGroup[]) {
    this.name = name;
    this.#groups = groups;
    this.#totalWeight = sumWeights(groups);
  }

  /**
   * The endpoint for the next attempt of a call: a version by weight, then an endpoint of it by the
   * balancer. `tried` lists endpoints this call already failed on; they are left out, and a version
   * left with none drops out of the split. Undefined when nothing is left.
   */
  pick(tried?: readonly Upstream[]): Upstream | undefined {
    const groups = tried === undefined ? this.#groups : this.#groups.map(without(tried)).filter(hasUpstreams);
    const total = tried === undefined ? this.#totalWeight : sumWeights(groups);
    const group = chooseVersion(groups, total, Math.random());
    return group?.balancer.pick(group.upstreams);
  }
}

function sumWeights(groups: readonly VersionGroup[]): number {
  let total = 0;
  for (const group of groups) total += group.weight;
  return total;
}

function without(tried: readonly Upstream[]): (group: VersionGroup) => VersionGroup {
  return (group) => ({
    ...group,
    upstreams: group.upstreams.filter((upstream) => !tried.includes(upstream)),
  });
}

function hasUpstreams(group: VersionGroup): boolean {
  return group.upstreams.length > 0;
}
