/**
 * The most client connections the shop's PostgreSQL held while the load ran, sampled once a
 * second, against its max_connections: every instance has its own pool, and they add up.
 */
import type { RunningShop } from './shop-system.ts';

export interface ConnectionPeak {
  peak: number;
  /** Connections per database (service name, or `bus`) at the peak. */
  byDatabase: Record<string, number>;
  maxConnections: number;
}

/** Samples until `stop()`; a failed sample is skipped, since the load must not depend on it. */
export async function sampleConnections(shop: RunningShop, everyMs = 1_000) {
  const [setting] = await shop.sql<{ max: string }>('orders', 'SELECT current_setting($1) AS max', [
    'max_connections',
  ]);
  const prefix = `flotilla_${shop.system}_`.replaceAll('-', '_');
  const result: ConnectionPeak = { peak: 0, byDatabase: {}, maxConnections: Number(setting!.max) };
  const sample = async () => {
    const rows = await shop.sql<{ database: string | null; n: string }>(
      'orders',
      `SELECT datname AS database, count(*) AS n FROM pg_stat_activity
        WHERE backend_type = 'client backend' GROUP BY 1`,
    );
    const total = rows.reduce((sum, r) => sum + Number(r.n), 0);
    if (total <= result.peak) return;
    result.peak = total;
    result.byDatabase = Object.fromEntries(
      rows.map((r) => [
        r.database?.startsWith(prefix) ? r.database.slice(prefix.length) : (r.database ?? '?'),
        Number(r.n),
      ]),
    );
  };
  const timer = setInterval(() => void sample().catch(() => {}), everyMs);
  return {
    stop(): ConnectionPeak {
      clearInterval(timer);
      return result;
    },
  };
}
