import { CONTROL_PATHS } from '@flotilla/spec';
import { request } from 'undici';
import type { Ejection } from './destination.ts';
import type { MeshLogger } from './types.ts';

/** Reports are sent at most this often: ejections change in bursts when an endpoint fails. */
const REPORT_INTERVAL_MS = 1_000;
const REPORT_TIMEOUT_MS = 2_000;

/**
 * Sends the control plane the endpoints this process has ejected, so `flotilla status` can show
 * them. Each report is the whole current list (the control plane replaces the previous one), so a
 * lost report is repaired by the next. Reporting is best effort: it never affects a call.
 *
 * A change after a quiet interval is reported at once (on a timer, off the request path), later
 * ones at most once per interval. Waiting out the interval first would lose every ejection shorter
 * than it: by the time the list is read, the endpoint is back and the list is empty.
 */
export class OutlierReport {
  readonly #url: string;
  readonly #token: string;
  readonly #collect: () => Ejection[];
  readonly #log: MeshLogger;
  #timer: NodeJS.Timeout | undefined;
  /** `performance.now()` of the last report sent. */
  #sentAt = Number.NEGATIVE_INFINITY;
  #sending = false;
  #again = false;
  #closed = false;

  constructor(controlUrl: string, token: string, collect: () => Ejection[], log: MeshLogger) {
    this.#url = new URL(CONTROL_PATHS.outliers, controlUrl).href;
    this.#token = token;
    this.#collect = collect;
    this.#log = log;
  }

  /** Something changed: report now, or once the interval since the last report has passed. */
  changed(): void {
    if (this.#closed || this.#timer !== undefined) return;
    const waitMs = Math.max(0, this.#sentAt + REPORT_INTERVAL_MS - performance.now());
    this.#timer = setTimeout(OutlierReport.#due, waitMs, this);
    this.#timer.unref();
  }

  static #due(report: OutlierReport): void {
    report.#timer = undefined;
    void report.#send();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  async #send(): Promise<void> {
    if (this.#sending) {
      this.#again = true;
      return;
    }
    this.#sending = true;
    this.#sentAt = performance.now();
    const ejected = this.#collect().map((e) => ({ ...e, until: new Date(e.until).toISOString() }));
    try {
      const res = await request(this.#url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ejected }),
        headersTimeout: REPORT_TIMEOUT_MS,
        bodyTimeout: REPORT_TIMEOUT_MS,
      });
      await res.body.dump();
      if (res.statusCode >= 300) {
        this.#log.warn({ status: res.statusCode }, 'The control plane refused an outlier report.');
      }
    } catch (err) {
      this.#log.info({ err }, 'Outlier report not delivered; the next change sends the full list again.');
    } finally {
      this.#sending = false;
      if (this.#again) {
        this.#again = false;
        this.changed();
      }
    }
  }
}
