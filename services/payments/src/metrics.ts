import type { Counter, Registry } from '@flotilla/runtime';

/** The payments service's own metrics, beside the runtime's request metrics on `/metrics`. */
export interface PaymentsMetrics {
  /** Processor answers to charge attempts, by outcome: approved, declined or transient_error. */
  charges: Counter<'outcome'>;
  /** Refunds recorded. */
  refunds: Counter;
  /** Calls made to the card processor, by operation (authorize, refund): the "no double charge" count. */
  processorCalls: Counter<'operation'>;
}

/** Registers the payments metrics on the service's registry. */
export function createPaymentsMetrics(registry: Registry): PaymentsMetrics {
  return {
    charges: registry.counter({
      name: 'payments_charges_total',
      help: 'Charge attempts answered by the card processor, by outcome (approved, declined, transient_error).',
      labelNames: ['outcome'],
    }),
    refunds: registry.counter({ name: 'payments_refunds_total', help: 'Refunds recorded.' }),
    processorCalls: registry.counter({
      name: 'payments_processor_calls_total',
      help: 'Calls made to the card processor, by operation (authorize, refund).',
      labelNames: ['operation'],
    }),
  };
}
