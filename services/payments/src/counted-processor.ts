import type { CardProcessor } from './card-processor.ts';
import type { PaymentsMetrics } from './metrics.ts';

/** Wraps a processor so that every call and every charge outcome is counted, whichever processor it is. */
export function countedProcessor(processor: CardProcessor, metrics: PaymentsMetrics): CardProcessor {
  return {
    async authorize(request) {
      metrics.processorCalls.inc({ operation: 'authorize' });
      const result = await processor.authorize(request);
      metrics.charges.inc({ outcome: result.outcome });
      return result;
    },
    refund(request) {
      metrics.processorCalls.inc({ operation: 'refund' });
      return processor.refund(request);
    },
  };
}
