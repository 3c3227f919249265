import { chooseVersion } from '../version-choice.ts';
import type { Destination } from './compile-rules.ts';

/**
 * The version a call goes to. Precedence, first that applies:
 *
 * a. A matched rule with an explicit `route` decides, by its weights among its destinations that
 *    have a ready endpoint. A pin does not override it: the rule is the operator's word for these
 *    requests (a header sending testers to v2 must hold even for a pinned request). When none of
 *    its destinations has an endpoint, there is no version: the call fails as Envoy's does (no
 *    healthy upstream) rather than going where the rule did not say.
 * b. A pin goes to the pinned version when it has a ready endpoint. Otherwise to `stableVersion`,
 *    with `fallback: true` so the caller can report it (`x-flotilla-version-fallback`); and when
 *    the stable version has no endpoint either, to the service's weights, still a fallback.
 * c. Otherwise the service's own version weights.
 *
 * A rule without `route` (only a fault, timeout or retries) leaves the choice to (b) and (c).
 */

/** A version with a ready endpoint, and its weight in the service's split (percent). */
export interface ReadySubset {
  readonly name: string;
  readonly weight: number;
}

/** What the choice knows of a service, built once per routing table. */
export interface ServiceSubsets<T extends ReadySubset> {
  /** Versions with at least one ready endpoint; a version with none is absent. */
  readonly ready: readonly T[];
  /** The sum of the weights of `ready`. */
  readonly readyWeight: number;
  /** Where a pin to a version without endpoints goes. */
  readonly stableVersion: string;
}

/** The chosen version (the entry of `ready`), or undefined when no version can take the call. */
export interface SubsetChoice<T> {
  readonly subset: T | undefined;
  /** The call was pinned to a version without endpoints and goes elsewhere. */
  readonly fallback: boolean;
}

const NOWHERE: SubsetChoice<never> = Object.freeze({ subset: undefined, fallback: false });

/**
 * Chooses the version of a call by the precedence above. It returns the entry of `ready` rather
 * than a name, so the caller reaches that version's endpoints without a second lookup.
 *
 * @param route the matched rule's destinations; undefined without a matched rule or without `route`
 * @param pin the version the request is pinned to (CallScope.pin or `x-flotilla-version`); '' is none
 * @param random a number in [0, 1); drawn at most once
 */
export function pickSubset<T extends ReadySubset>(
  route: readonly Destination[] | undefined,
  pin: string | undefined,
  service: ServiceSubsets<T>,
  random: () => number = Math.random,
): SubsetChoice<T> {
  const { ready } = service;
  if (ready.length === 0) return NOWHERE;
  if (route !== undefined) return chosen(byRoute(route, ready, random), false);
  if (pin) {
    const pinned = find(ready, pin);
    if (pinned !== undefined) return chosen(pinned, false);
    const stable = find(ready, service.stableVersion);
    return chosen(stable ?? chooseVersion(ready, service.readyWeight, random()), true);
  }
  return chosen(chooseVersion(ready, service.readyWeight, random()), false);
}

function chosen<T>(subset: T | undefined, fallback: boolean): SubsetChoice<T> {
  return subset === undefined ? NOWHERE : { subset, fallback };
}

/**
 * A destination by weight among those with a ready endpoint, in two passes over the route so that
 * no filtered list is built per call. Like chooseVersion, destinations that are all at weight 0
 * share the call evenly: the rule named them, so one of them serves.
 */
function byRoute<T extends ReadySubset>(
  route: readonly Destination[],
  ready: readonly T[],
  random: () => number,
): T | undefined {
  let total = 0;
  let count = 0;
  for (const destination of route) {
    if (find(ready, destination.subset) === undefined) continue;
    total += destination.weight;
    count++;
  }
  if (count === 0) return undefined;
  const draw = random();
  let remaining = total > 0 ? draw * total : Math.floor(draw * count);
  let last: T | undefined;
  for (const destination of route) {
    const subset = find(ready, destination.subset);
    if (subset === undefined) continue;
    // With weights, walk the weights; all at 0, walk the count.
    const share = total > 0 ? destination.weight : 1;
    if (share <= 0) continue;
    if (remaining < share) return subset;
    remaining -= share;
    last = subset;
  }
  // Rounding can leave a sliver past the last share; it belongs to the last destination that had one.
  return last;
}

/** Versions are few (one to three): a scan beats a map lookup and needs no structure per table. */
function find<T extends ReadySubset>(ready: readonly T[], name: string): T | undefined {
  for (const subset of ready) {
    if (subset.name === name) return subset;
  }
  return undefined;
}
