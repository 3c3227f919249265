import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.ts';
import { type Bench, startNotifications } from '../test/harness.ts';

const user = (extra: Record<string, unknown> = {}) => ({
  user_id: randomUUID(),
  email: `u-${randomUUID().slice(0, 8)}@shop.test`,
  name: 'Uma',
  phone: null,
  ...extra,
});
const paid = (userId: string) => ({
  order_id: randomUUID(),
  user_id: userId,
  total_cents: 4_900,
  currency: 'EUR',
  items: [{ product_id: randomUUID(), name: 'Lamp', quantity: 1, unit_price_cents: 4_900 }],
  paid_at: new Date().toISOString(),
});

describe('notifications', () => {
  let bench: Bench;

  beforeAll(async () => {
    bench = await startNotifications();
  });

  afterAll(() => bench?.stop());

  const mailTo = (address: string) => bench.smtp.received.filter((m) => m.to.includes(address));

  it('sends a welcome email on user.registered and records it as sent', async () => {
    const u = user();
    await bench.publish('user.registered', u);
    const [mail] = await eventually(() => {
      const found = mailTo(u.email);
      expect(found).toHaveLength(1);
      return found;
    });
    expect(mail!.subject).toBe('Welcome to the shop');
    const rows = await eventually(async () => {
      const r = await bench.sql<{ channel: string; status: string }>(
        'SELECT channel, status FROM notifications WHERE user_id = $1',
        [u.user_id],
      );
      expect(r).toEqual([{ channel: 'email', status: 'sent' }]);
      return r;
    });
    expect(rows).toHaveLength(1);
  });

  it('sends a receipt by email, push and SMS (with a phone) on order.paid', async () => {
    const u = user({ phone: '+4915112345678' });
    await bench.publish('user.registered', u);
    const order = paid(u.user_id);
    await bench.publish('order.paid', order);
    await eventually(() =>
      expect(
        mailTo(u.email)
          .map((m) => m.subject)
          .sort(),
      ).toEqual(['Welcome to the shop', `Your order ${order.order_id.slice(0, 8)} is paid`]),
    );
    const local = await eventually(async () => {
      const r = await bench.sql<{ channel: string; address: string; body: string }>(
        `SELECT d.channel, d.address, d.body FROM local_deliveries d
          JOIN notifications n ON d.message_id = '<' || n.id || '@notifications.test.flotilla>'
         WHERE n.user_id = $1 ORDER BY d.channel`,
        [u.user_id],
      );
      expect(r).toHaveLength(2);
      return r;
    });
    expect(local).toEqual([
      { channel: 'push', address: u.user_id, body: `Order ${order.order_id.slice(0, 8)} paid: 49.00 EUR.` },
      {
        channel: 'sms',
        address: '+4915112345678',
        body: `Order ${order.order_id.slice(0, 8)} paid: 49.00 EUR.`,
      },
    ]);
  });

  it('never sends a second email for a redelivered event', async () => {
    const u = user();
    const event = await bench.publish('user.registered', u);
    await eventually(() => expect(mailTo(u.email)).toHaveLength(1));
    await bench.redeliver(event);
    await bench.redeliver(event);
    await eventually(async () => {
      const inbox = await bench.sql('SELECT 1 FROM flotilla_inbox WHERE event_id = $1', [event.id]);
      expect(inbox).toHaveLength(1);
    });
    await sleep(1_000);
    expect(mailTo(u.email)).toHaveLength(1);
  });

  it('retries an order event that arrives before its user.registered, and sends it once that has come', async () => {
    const u = user();
    const order = paid(u.user_id);
    await bench.publish('order.paid', order);
    await sleep(600);
    expect(mailTo(u.email)).toHaveLength(0);
    await bench.publish('user.registered', u);
    await eventually(
      () =>
        expect(mailTo(u.email).map((m) => m.subject)).toContain(
          `Your order ${order.order_id.slice(0, 8)} is paid`,
        ),
      15_000,
    );
    await sleep(500);
    expect(mailTo(u.email)).toHaveLength(2);
  });

  it('keeps mail pending while the relay refuses it, and sends it once when it accepts again', async () => {
    const u = user();
    bench.smtp.refuse(451);
    try {
      await bench.publish('user.registered', u);
      await eventually(async () => {
        const [row] = await bench.sql<{ status: string; attempts: number; last_error: string }>(
          'SELECT status, attempts, last_error FROM notifications WHERE user_id = $1',
          [u.user_id],
        );
        expect(row).toMatchObject({ status: 'pending' });
        expect(row!.attempts).toBeGreaterThanOrEqual(1);
        expect(row!.last_error).toContain('451');
      });
    } finally {
      bench.smtp.refuse(false);
    }
    await eventually(() => expect(mailTo(u.email)).toHaveLength(1), 10_000);
    const [row] = await bench.sql<{ status: string }>('SELECT status FROM notifications WHERE user_id = $1', [
      u.user_id,
    ]);
    expect(row!.status).toBe('sent');
  });

  it('gives up at once on a permanent refusal (SMTP 5xx), recording why', async () => {
    const u = user();
    bench.smtp.refuse(550);
    try {
      await bench.publish('user.registered', u);
      await eventually(async () => {
        const [row] = await bench.sql<{ status: string; attempts: number; last_error: string }>(
          'SELECT status, attempts, last_error FROM notifications WHERE user_id = $1',
          [u.user_id],
        );
        expect(row).toMatchObject({ status: 'failed', attempts: 1 });
        expect(row!.last_error).toContain('550');
      });
    } finally {
      bench.smtp.refuse(false);
    }
    await sleep(1_500);
    expect(mailTo(u.email)).toHaveLength(0);
    const [row] = await bench.sql<{ attempts: number }>(
      'SELECT attempts FROM notifications WHERE user_id = $1',
      [u.user_id],
    );
    expect(row!.attempts).toBe(1);
  });

  it('sends every notification of a message with one Message-ID that names the notification', async () => {
    const u = user();
    await bench.publish('user.registered', u);
    const [mail] = await eventually(() => {
      const found = mailTo(u.email);
      expect(found).toHaveLength(1);
      return found;
    });
    const [row] = await bench.sql<{ id: string }>('SELECT id FROM notifications WHERE user_id = $1', [
      u.user_id,
    ]);
    expect(mail!.messageId).toBe(`<${row!.id}@notifications.test.flotilla>`);
  });

  it("lists the caller's own notifications only, newest first, and refuses anonymous callers", async () => {
    const [a, b] = [user(), user()];
    await bench.publish('user.registered', a);
    await bench.publish('user.registered', b);
    await bench.publish('order.paid', paid(a.user_id));
    const mine = await eventually(async () => {
      const res = await bench.call<{ items: { address: string; event_type: string }[] }>(
        '/api/notifications/v1/notifications',
        a.user_id,
      );
      expect(res.body.items.map((n) => n.event_type)).toEqual([
        'order.paid',
        'order.paid',
        'user.registered',
      ]);
      return res.body.items;
    });
    expect(mine.every((n) => n.address === a.email || n.address === a.user_id)).toBe(true);
    const theirs = await bench.call<{ items: { address: string }[] }>(
      '/api/notifications/v1/notifications',
      b.user_id,
    );
    expect(theirs.body.items.every((n) => n.address !== a.email)).toBe(true);
    const page = await bench.call<{ items: unknown[]; next_cursor: string | null }>(
      '/api/notifications/v1/notifications?limit=1',
      a.user_id,
    );
    expect(page.body.items).toHaveLength(1);
    const next = await bench.call<{ items: unknown[] }>(
      `/api/notifications/v1/notifications?limit=1&cursor=${page.body.next_cursor}`,
      a.user_id,
    );
    expect(next.body.items).toHaveLength(1);
    expect((await bench.call('/api/notifications/v1/notifications')).status).toBe(401);
    expect((await bench.call('/api/notifications/v1/notifications?cursor=bad', a.user_id)).status).toBe(400);
  });
});
