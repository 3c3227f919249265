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
 */
export class OutlierReport {
  readonly #url: string;
  readonly #token: string;
  readonly #collect: () => Ejection[];
  readonly #log: MeshLogger;
  #timer: NodeJS.Timeout | undefined;
  #sending = false;
  #again = false;
  #closed = false;

  constructor(controlUrl: string, token: string, collect: () => Ejection[], log: MeshLogger) {
    this.#url = new URL(CONTROL_PATHS.outliers, controlUrl).href;
    this.#token = token;
    this.#collect = collect;
    this.#log = log;
  }

  /** Something changed: report within the interval. */
  changed(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#send();
    }, REPORT_INTERVAL_MS);
    this.#timer.unref();
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
