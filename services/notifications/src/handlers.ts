import { randomUUID } from 'node:crypto';
import type { DatabaseClient, EventEnvelope, Service } from '@flotilla/runtime';
import { z } from 'zod';
import { orderCancelled, orderPaid, type Rendered, welcome } from './templates.ts';

const userRegistered = z.object({
  user_id: z.string().min(1),
  email: z.string().min(3),
  name: z.string().min(1),
  phone: z.string().nullish(),
});

const item = z.object({ name: z.string(), quantity: z.int(), unit_price_cents: z.int() });
const paid = z.object({
  order_id: z.string(),
  user_id: z.string(),
  total_cents: z.int(),
  currency: z.string(),
  items: z.array(item),
});
const cancelled = z.object({
  order_id: z.string(),
  user_id: z.string(),
  refunded_cents: z.int(),
  currency: z.string(),
});

interface RecipientRow {
  user_id: string;
  email: string;
  name: string;
  phone: string | null;
}

/** An order event for a user this service has not heard of yet: user.registered may still be on its way. */
export class UnknownRecipientError extends Error {
  constructor(userId: string) {
    super(`no recipient ${userId} yet; user.registered may not have arrived, so this event is retried`);
    this.name = 'UnknownRecipientError';
  }
}

/**
 * The event handlers. Each runs in the transaction that records the event in the inbox, and only
 * writes rows: the notifications to send. Sending happens after commit (see sender.ts), so a
 * redelivered event finds its inbox row and changes nothing, and a crash loses nothing.
 */
export function registerHandlers(service: Service): void {
  service.events.on('user.registered', async (event, tx) => {
    const user = userRegistered.parse(event.data);
    await tx.query(
      `INSERT INTO recipients (user_id, email, name, phone) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id) DO UPDATE SET email = $2, name = $3, phone = $4, updated_at = now()`,
      [user.user_id, user.email, user.name, user.phone ?? null],
    );
    await queue(tx, event, { ...user, phone: user.phone ?? null }, welcome(user));
  });

  service.events.on('order.paid', async (event, tx) => {
    const order = paid.parse(event.data);
    const user = await recipient(tx, order.user_id);
    await queue(tx, event, user, orderPaid(user, order));
  });

  service.events.on('order.cancelled', async (event, tx) => {
    const order = cancelled.parse(event.data);
    const user = await recipient(tx, order.user_id);
    await queue(tx, event, user, orderCancelled(user, order));
  });
}

async function recipient(tx: DatabaseClient, userId: string): Promise<RecipientRow> {
  const { rows } = await tx.query<RecipientRow>(
    'SELECT user_id, email, name, phone FROM recipients WHERE user_id = $1',
    [userId],
  );
  if (rows.length === 0) throw new UnknownRecipientError(userId);
  return rows[0]!;
}

/** Writes the notifications of one event: email always, SMS when there is a phone, push for order news. */
async function queue(
  tx: DatabaseClient,
  event: EventEnvelope,
  user: RecipientRow,
  text: Rendered,
): Promise<void> {
  const rows: [channel: string, address: string, subject: string, body: string][] = [
    ['email', user.email, text.email.subject, text.email.body],
  ];
  if (text.short !== undefined) {
    rows.push(['push', user.user_id, text.email.subject, text.short]);
    if (user.phone) rows.push(['sms', user.phone, text.email.subject, text.short]);
  }
  for (const [channel, address, subject, body] of rows) {
    await tx.query(
      `INSERT INTO notifications (id, user_id, event_id, event_type, channel, address, subject, body)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id, channel) DO NOTHING`,
      [randomUUID(), user.user_id, event.id, event.type, channel, address, subject, body],
    );
  }
}
