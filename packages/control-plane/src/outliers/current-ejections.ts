import type { EjectionStatus, ReportedEjection } from '../types.ts';

/**
 * Every endpoint some reporter ejects at `nowMs`, by instance id: which reporters (sorted) and
 * until when the last of their ejections lasts. An ejection whose `until` has passed is left out,
 * so a reporter that went quiet does not keep an endpoint marked. Pure.
 */
export function currentEjections(
  reports: ReadonlyMap<string, readonly ReportedEjection[]>,
  nowMs: number,
): Map<string, EjectionStatus> {
  const found = new Map<string, { by: Set<string>; untilMs: number }>();
  for (const [reporter, ejected] of reports) {
    for (const ejection of ejected) {
      const untilMs = Date.parse(ejection.until);
      if (!(untilMs > nowMs)) continue;
      const entry = found.get(ejection.endpoint) ?? { by: new Set<string>(), untilMs };
      entry.by.add(reporter);
      entry.untilMs = Math.max(entry.untilMs, untilMs);
      found.set(ejection.endpoint, entry);
    }
  }
  return new Map(
    [...found].map(([endpoint, { by, untilMs }]) => [
      endpoint,
      {
        by: [...by].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })),
        until: new Date(untilMs).toISOString(),
      },
    ]),
  );
}
