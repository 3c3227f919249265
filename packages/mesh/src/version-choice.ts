/** A version of a service as the version choice sees it. */
export interface WeightedVersion {
  /** Traffic weight from the routing table (percent). */
  readonly weight: number;
}

/**
 * Picks a version by weight. `versions` holds only versions that have a ready endpoint, so a
 * version whose endpoints are all gone has already dropped out and its share goes to the rest.
 * When every remaining version has weight 0 (the weighted ones have no endpoint), the choice is
 * uniform: a call served by a version outside the split beats a call that fails.
 *
 * @param totalWeight the sum of the weights of `versions`, computed once per table
 * @param random a number in [0, 1)
 */
export function chooseVersion<T extends WeightedVersion>(
  versions: readonly T[],
  totalWeight: number,
  random: number,
): T | undefined {
  const count = versions.length;
  if (count < 2) return versions[0];
  if (totalWeight <= 0) return versions[Math.floor(random * count)];
  let remaining = random * totalWeight;
  let lastWeighted: T | undefined;
  for (let i = 0; i < count; i++) {
    const version = versions[i]!;
    if (version.weight <= 0) continue;
    if (remaining < version.weight) return version;
    remaining -= version.weight;
    lastWeighted = version;
  }
  // Rounding can leave a sliver past the last weight; it belongs to the last weighted version.
  return lastWeighted;
}
