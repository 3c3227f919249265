import {
  config,
  createService,
  type MeshClient,
  RuntimeError,
  type Service,
  secret,
} from '@flotilla/runtime';
import type { DestinationStream } from 'pino';
import { registerCatalog } from './catalog.ts';
import { ORDERS_DEFAULTS } from './defaults.ts';
import { IdempotencyKeys } from './idempotency.ts';
import { registerOrders } from './orders.ts';
import { meshPayments } from './payments-client.ts';
import { reconcilePending } from './reconcile.ts';

/** How to build the orders service; everything else comes from the instance environment. */
export interface OrdersOptions {
  env?: NodeJS.ProcessEnv;
  logDestination?: DestinationStream;
  /** The mesh client to reach payments with. @default the service's own (needs `flotilla up`) */
  mesh?: MeshClient;
}

/**
 * orders: the catalogue with its stock, and orders that reserve stock and are charged through the
 * payments service. Publishes `order.paid` and `order.cancelled` through its outbox.
 */
export function buildOrdersService(options: OrdersOptions = {}): Service {
  const env = options.env ?? process.env;
  const currency = config('SHOP_CURRENCY', ORDERS_DEFAULTS.currency, env);
  if (!/^[A-Z]{3}$/.test(currency)) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_INVALID',
      `SHOP_CURRENCY must be an ISO 4217 code such as EUR (got ${currency}).`,
    );
  }
  // Keys the hash of order requests kept with their Idempotency-Key; see idempotency.ts.
  const requestHashKey = secret('REQUEST_HASH_KEY', env);
  const service = createService({
    name: 'orders',
    env,
    logDestination: options.logDestination,
    database: { migrationsDir: new URL('../migrations', import.meta.url) },
    events: {},
  });
  const payments = meshPayments(() => options.mesh ?? service.mesh);
  const { leaseMs, renewEveryMs, idleInTransactionMs } = ORDERS_DEFAULTS.idempotencyKey;
  const keys = new IdempotencyKeys(service, {
    holder: `${service.identity.instance}/${process.pid}`,
    leaseMs,
    renewEveryMs,
    idleInTransactionMs,
  });
  registerCatalog(service, currency);
  registerOrders(service, payments, keys, { currency, requestHashKey });
  const { reconcile } = ORDERS_DEFAULTS;
  service.background(
    'reconcile-pending-orders',
    reconcilePending(service, payments, keys, {
      pendingAfterMs: positiveInt('RECONCILE_PENDING_AFTER_MS', reconcile.pendingAfterMs, env),
      intervalMs: positiveInt('RECONCILE_INTERVAL_MS', reconcile.intervalMs, env),
      batch: reconcile.batch,
    }),
  );
  return service;
}

/** A whole number of milliseconds from the environment, or its default. */
function positiveInt(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const value = Number(config(name, String(fallback), env));
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RuntimeError('FLOTILLA_CONFIG_INVALID', `${name} must be a whole number of milliseconds >= 1.`);
  }
  return value;
}
