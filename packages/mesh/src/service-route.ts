import type { ResilienceSpec } from '@flotilla/spec';
import type { Balancer } from './balancer/index.ts';
import { compileRetryPolicy, type RetryPolicy } from './call-plan.ts';
import type { Destination } from './destination.ts';
import type { CompiledRule, ServiceSubsets } from './routing/index.ts';
import type { Upstream } from './upstream.ts';
import type { WeightedVersion } from './version-choice.ts';

/** The ready endpoints of one version of a service, with the balancer that picks among them. */
export interface VersionGroup extends WeightedVersion {
  readonly name: string;
  readonly upstreams: readonly Upstream[];
  readonly balancer: Balancer;
}

/**
 * Where calls to one service go, built once per routing table: its versions with endpoints, its
 * compiled traffic rules and its resilience. The per-destination state that must outlive a table
 * (retry budget, circuit breaker, outlier detector) lives in `destination`, carried over.
 */
export class ServiceRoute implements ServiceSubsets<VersionGroup> {
  readonly name: string;
  /** Only versions with at least one ready endpoint, in table order (as pickSubset reads them). */
  readonly ready: readonly VersionGroup[];
  readonly #byName: ReadonlyMap<string, VersionGroup>;
  /** The sum of the weights of `groups`. */
  readonly readyWeight: number;
  readonly stableVersion: string;
  readonly rules: readonly CompiledRule[];
  readonly resilience: ResilienceSpec;
  readonly destination: Destination;
  /** The service's retry policy, and each rule's where the rule overrides it. */
  readonly retries: RetryPolicy;
  readonly #ruleRetries: ReadonlyMap<CompiledRule, RetryPolicy>;

  constructor(init: {
    name: string;
    groups: readonly VersionGroup[];
    stableVersion: string;
    rules: readonly CompiledRule[];
    resilience: ResilienceSpec;
    destination: Destination;
  }) {
    this.name = init.name;
    this.ready = init.groups;
    this.#byName = new Map(init.groups.map((g) => [g.name, g]));
    this.stableVersion = init.stableVersion;
    this.rules = init.rules;
    this.resilience = init.resilience;
    this.destination = init.destination;
    let total = 0;
    for (const group of init.groups) total += group.weight;
    this.readyWeight = total;
    this.retries = compileRetryPolicy(init.resilience.retries);
    const ruleRetries = new Map<CompiledRule, RetryPolicy>();
    for (const rule of init.rules) {
      if (rule.retries !== undefined)
        ruleRetries.set(rule, compileRetryPolicy(init.resilience.retries, rule.retries));
    }
    this.#ruleRetries = ruleRetries;
  }

  /** The retry policy of calls that matched `rule`. */
  retriesOf(rule: CompiledRule): RetryPolicy {
    return this.#ruleRetries.get(rule) ?? this.retries;
  }

  /** Ready endpoints of `version`: the outlier detector never ejects past its share of them. */
  countOf(version: string): number {
    return this.#byName.get(version)?.upstreams.length ?? 0;
  }

  /** Whether `version` has a ready endpoint. */
  has(version: string): boolean {
    return this.#byName.has(version);
  }

  /**
   * The endpoint for the next attempt of a call to `version`. Endpoints the call already failed on
   * (`tried`) and endpoints the outlier detector ejected are left out; an ejected endpoint is still
   * used when its version has nothing else. When `version` has nothing left, `pinned` decides: a
   * call pinned to a version (by a rule or by affinity) fails rather than meet another version, a
   * call that chose its version by weight moves on to the others.
   */
  pick(version: string, tried: readonly Upstream[] | undefined, pinned: boolean): Upstream | undefined {
    const group = this.#byName.get(version);
    if (group !== undefined) {
      const upstream = this.#pickIn(group, tried);
      if (upstream !== undefined || pinned) return upstream;
    } else if (pinned) {
      return undefined;
    }
    for (const other of this.ready) {
      if (other === group) continue;
      const upstream = this.#pickIn(other, tried);
      if (upstream !== undefined) return upstream;
    }
    return undefined;
  }

  #pickIn(group: VersionGroup, tried: readonly Upstream[] | undefined): Upstream | undefined {
    const outliers = this.destination.outliers(group.name);
    // The common case, nothing tried and nothing ejected, builds no list.
    if (tried === undefined && outliers.ejectedCount === 0) return group.balancer.pick(group.upstreams);
    const untried = tried === undefined ? group.upstreams : group.upstreams.filter((u) => !tried.includes(u));
    const usable = untried.filter((u) => !outliers.isEjected(u.id));
    return group.balancer.pick(usable.length > 0 ? usable : untried);
  }
}
