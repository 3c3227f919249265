/** What a notification says, per channel. */
export interface Rendered {
  email: { subject: string; body: string };
  /** Short texts for SMS and push; undefined when the event is not worth one. */
  short: string | undefined;
}

interface Recipient {
  name: string;
}

interface OrderLine {
  name: string;
  quantity: number;
  unit_price_cents: number;
}

const money = (cents: number, currency: string) => `${(cents / 100).toFixed(2)} ${currency}`;
const shortId = (id: string) => id.slice(0, 8);

/** A welcome for a new user. */
export function welcome(user: Recipient): Rendered {
  return {
    email: {
      subject: 'Welcome to the shop',
      body: `Hello ${user.name},\n\nyour account is ready. Happy shopping!\n`,
    },
    short: undefined,
  };
}

/** The receipt of a paid order. */
export function orderPaid(
  user: Recipient,
  order: { order_id: string; total_cents: number; currency: string; items: OrderLine[] },
): Rendered {
  const lines = order.items
    .map((i) => `  ${i.quantity} x ${i.name} at ${money(i.unit_price_cents, order.currency)}`)
    .join('\n');
  const total = money(order.total_cents, order.currency);
  return {
    email: {
      subject: `Your order ${shortId(order.order_id)} is paid`,
      body: `Hello ${user.name},\n\nthank you for your order ${order.order_id}:\n\n${lines}\n\nTotal paid: ${total}\n`,
    },
    short: `Order ${shortId(order.order_id)} paid: ${total}.`,
  };
}

/** The confirmation of a cancelled, refunded order. */
export function orderCancelled(
  user: Recipient,
  order: { order_id: string; refunded_cents: number; currency: string },
): Rendered {
  const refund = money(order.refunded_cents, order.currency);
  return {
    email: {
      subject: `Your order ${shortId(order.order_id)} is cancelled`,
      body: `Hello ${user.name},\n\nyour order ${order.order_id} is cancelled and ${refund} is refunded to your card.\n`,
    },
    short: `Order ${shortId(order.order_id)} cancelled, ${refund} refunded.`,
  };
}
