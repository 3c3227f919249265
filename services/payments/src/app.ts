import { createService, type Service, type ServiceOptions } from '@flotilla/runtime';
import { countedProcessor } from './counted-processor.ts';
import { createPaymentsMetrics } from './metrics.ts';
import { registerRoutes } from './routes.ts';
import { createSimulatedProcessor } from './simulated-processor.ts';

/** Where the payments service runs: the instance environment and, for tests, where logs go. */
export type PaymentsServiceOptions = Pick<ServiceOptions, 'env' | 'logDestination'>;

/** Builds the payments service with the simulated card processor. Nothing listens or connects until start(). */
export function buildPaymentsService(options: PaymentsServiceOptions = {}): Service {
  const service = createService({
    name: 'payments',
    database: { migrationsDir: new URL('../migrations', import.meta.url) },
    ...options,
  });
  const metrics = createPaymentsMetrics(service.metrics);
  registerRoutes(service, {
    db: service.db,
    transaction: (work) => service.transaction(work),
    processor: countedProcessor(createSimulatedProcessor(), metrics),
    metrics,
  });
  return service;
}
