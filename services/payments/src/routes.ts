import { reply, type Service } from '@flotilla/runtime';
import { z } from 'zod';
import { chargeBody } from './charge-body.ts';
import { chargeOrder, findCharge, type PaymentsDeps, voidOrder } from './charges.ts';
import { chargeNotFound, invalidOrderId, processorUnavailable } from './errors.ts';
import { refundOrder } from './refunds.ts';

const PREFIX = '/internal/payments/v1/charges';
const uuid = z.uuid();
/** What a void that comes before any charge request records, so the row says what was not charged. */
const voidBody = chargeBody.pick({ amount_cents: true, currency: true });

/** The order id of a path, checked before it reaches a uuid column (which would fail with a 500). */
function orderIdOf(param: string): string {
  if (!uuid.safeParse(param).success) throw invalidOrderId();
  return param;
}

/** Registers the payments API. It is internal: the gateway routes nothing here, orders calls it over the mesh. */
export function registerRoutes(service: Service, deps: PaymentsDeps): void {
  service.post(PREFIX, { body: chargeBody }, async (ctx) => {
    const outcome = await chargeOrder(deps, ctx.body, ctx.log);
    if (outcome.kind === 'retry') throw processorUnavailable();
    if (outcome.kind === 'existing') return outcome.charge;
    return reply(201, outcome.charge, { location: `${PREFIX}/${outcome.charge.order_id}` });
  });

  service.post(`${PREFIX}/:order_id/refund`, async (ctx) => {
    const outcome = await refundOrder(deps, orderIdOf(ctx.params.order_id), ctx.log);
    if (outcome.kind === 'retry') throw processorUnavailable();
    return { refund: outcome.refund, charge: outcome.charge };
  });

  service.post(`${PREFIX}/:order_id/void`, { body: voidBody }, async (ctx) => {
    const orderId = orderIdOf(ctx.params.order_id);
    return voidOrder(deps, { order_id: orderId, ...ctx.body }, ctx.log);
  });

  service.get(`${PREFIX}/:order_id`, async (ctx) => {
    const orderId = orderIdOf(ctx.params.order_id);
    const charge = await findCharge(deps.db, orderId);
    if (!charge) throw chargeNotFound(orderId);
    return charge;
  });
}
