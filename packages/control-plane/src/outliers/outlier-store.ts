import type { Clock } from '../supervisor/index.ts';
import type { EjectionStatus, ReportedEjection } from '../types.ts';
import { currentEjections } from './current-ejections.ts';

/**
 * What each process last reported as ejected by its outlier detection, in memory. A report is the
 * reporter's whole current list and replaces the one before.
 *
 * An ejection belongs to the process that was ejected, not to its instance id: when a process
 * ends, its ejections are dropped, so the process that restarts under the same id starts clean.
 * A reporter learns of the end only from a later routing table and may send the old ejection once
 * more meanwhile; that one is recognised by its reporter and end time and kept out.
 */
export class OutlierStore {
  readonly #reports = new Map<string, readonly ReportedEjection[]>();
  /** Ejections of processes that have ended, as `reporter endpoint until`, to the ms their ejection ends. */
  readonly #ended = new Map<string, number>();
  readonly #clock: Clock;

  /** @param clock @default Date */
  constructor(clock: Clock = Date) {
    this.#clock = clock;
  }

  /** Replaces what `reporter` said before; an empty list clears it. */
  report(reporter: string, ejected: readonly ReportedEjection[]): void {
    const current = ejected.filter((e) => !this.#ended.has(endedKey(reporter, e)));
    if (current.length === 0) this.#reports.delete(reporter);
    else this.#reports.set(reporter, current);
  }

  /**
   * A process has stopped: what it reported goes, and so do the ejections others reported of it,
   * which would otherwise stick to the next process of its instance.
   */
  forget(id: string): void {
    this.#reports.delete(id);
    const nowMs = this.#clock.now();
    for (const [key, untilMs] of this.#ended) if (untilMs <= nowMs) this.#ended.delete(key);
    for (const [reporter, ejected] of this.#reports) {
      if (!ejected.some((e) => e.endpoint === id)) continue;
      for (const e of ejected)
        if (e.endpoint === id) this.#ended.set(endedKey(reporter, e), Date.parse(e.until));
      this.report(reporter, ejected);
    }
  }

  /** The endpoints ejected now, by instance id; ejections past their `until` are left out. */
  ejections(): Map<string, EjectionStatus> {
    return currentEjections(this.#reports, this.#clock.now());
  }
}

function endedKey(reporter: string, ejection: ReportedEjection): string {
  return `${reporter} ${ejection.endpoint} ${ejection.until}`;
}
