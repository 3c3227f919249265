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
import { registerOrders } from './orders.ts';
import { meshPayments } from './payments-client.ts';

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
  registerCatalog(service, currency);
  registerOrders(service, payments, { currency, requestHashKey });
  return service;
}
