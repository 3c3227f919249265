/** A running instance as the scale decision sees it: `n` is its number, higher is newer. */
export interface ScaleCandidate {
  id: string;
  n: number;
}

/** What to do to reach `desired` instances: start `add` new ones, stop `remove` (newest first). */
export interface ScalePlan {
  add: number;
  remove: string[];
}

/** Decides a scale step from the instances that still count (not being stopped) and the desired count. */
export function planScale(current: readonly ScaleCandidate[], desired: number): ScalePlan {
  if (current.length <= desired) return { add: desired - current.length, remove: [] };
  const newestFirst = [...current].sort((a, b) => b.n - a.n);
  return { add: 0, remove: newestFirst.slice(0, current.length - desired).map((c) => c.id) };
}
