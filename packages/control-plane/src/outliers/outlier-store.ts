import type { Clock } from '../supervisor/index.ts';
import type { EjectionStatus, ReportedEjection } from '../types.ts';
import { currentEjections } from './current-ejections.ts';

/**
 * What each process last reported as ejected by its outlier detection, in memory. A report is the
 * reporter's whole current list and replaces the one before; a reporter that stops is forgotten.
 */
export class OutlierStore {
  readonly #reports = new Map<string, readonly ReportedEjection[]>();
  readonly #clock: Clock;

  /** @param clock @default Date */
  constructor(clock: Clock = Date) {
    this.#clock = clock;
  }

  /** Replaces what `reporter` said before; an empty list clears it. */
  report(reporter: string, ejected: readonly ReportedEjection[]): void {
    if (ejected.length === 0) this.#reports.delete(reporter);
    else this.#reports.set(reporter, [...ejected]);
  }

  /** Forgets a reporter that has stopped. */
  forget(reporter: string): void {
    this.#reports.delete(reporter);
  }

  /** The endpoints ejected now, by instance id; ejections past their `until` are left out. */
  ejections(): Map<string, EjectionStatus> {
    return currentEjections(this.#reports, this.#clock.now());
  }
}
