import type { DatabaseClient } from '@flotilla/runtime';

/**
 * Writes down one processor call and its answer, in the transaction that acts on the answer, so
 * the record and the charge it changed are committed together.
 */
export async function recordCall(
  tx: Pick<DatabaseClient, 'query'>,
  chargeId: string,
  operation: 'authorize' | 'refund',
  outcome: string,
): Promise<void> {
  await tx.query('INSERT INTO payment_processor_calls (charge_id, operation, outcome) VALUES ($1, $2, $3)', [
    chargeId,
    operation,
    outcome,
  ]);
}
