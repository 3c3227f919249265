import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RABBITMQ, rabbitmqReachable } from '../support/rabbitmq.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { type RunningShop, startShop } from './shop.ts';

// Needs the machine's RabbitMQ (127.0.0.1:5672, guest/guest); where it is absent (a laptop), this
// file is skipped and rabbitmqReachable() says so on the console. The outage is a TCP proxy of the
// test's own between the shop and RabbitMQ, cut and restored: the server itself is never touched.
const reachable = await rabbitmqReachable();

describe.skipIf(!reachable)('the shop on RabbitMQ, through a 20 s outage of the bus', () => {
  let proxy: TcpProxy;
  let shop: RunningShop;
  let admin: string;

  beforeAll(async () => {
    proxy = await startTcpProxy({ host: RABBITMQ.host, port: RABBITMQ.port });
    shop = await startShop({
      bus: { kind: 'rabbitmq', url: `amqp://guest:guest@127.0.0.1:${proxy.port}` },
    });
    admin = await shop.adminToken();
  }, 120_000);

  afterAll(async () => {
    await shop?.stop();
    await proxy?.close();
    if (shop) await deleteTopology(shop.system);
  }, 90_000);

  it('delivers every email once after the bus comes back, for orders paid while it was away', async () => {
    const product = await shop.api<{ id: string }>('/api/catalog/v1/products', {
      token: admin,
      body: { sku: `sku-${randomUUID().slice(0, 8)}`, name: 'Storm lantern', price_cents: 2_000, stock: 50 },
    });
    const customers = await Promise.all(Array.from({ length: 5 }, () => shop.customer()));
    for (const c of customers) await shop.waitForMail(c.email, 1);

    proxy.cut();
    const cutAt = Date.now();
    const paid: { email: string; order: string }[] = [];
    for (let round = 0; round < 2; round++) {
      for (const c of customers) {
        const res = await shop.api<{ id: string; status: string }>('/api/orders/v1/orders', {
          token: c.token,
          body: { items: [{ product_id: product.body.id, quantity: 1 }], card_number: '4242424242424242' },
          headers: { 'idempotency-key': randomUUID() },
        });
        // Orders and payments talk over the mesh, not the bus: the shop keeps selling.
        expect(res.status).toBe(201);
        expect(res.body.status).toBe('paid');
        paid.push({ email: c.email, order: res.body.id });
      }
    }
    await sleep(Math.max(0, 20_000 - (Date.now() - cutAt)));
    for (const c of customers) expect(await shop.mail(c.email)).toHaveLength(1);
    const waiting = await shop.sql<{ n: number }>('orders', 'SELECT count(*)::int AS n FROM flotilla_outbox');
    expect(waiting[0]!.n).toBe(10);

    proxy.restore();
    for (const c of customers) {
      const mail = await shop.waitForMail(c.email, 3, 60_000);
      const receipts = mail.filter((m) => m.subject.endsWith('is paid'));
      expect(receipts.map((m) => m.subject).sort()).toEqual(
        paid
          .filter((p) => p.email === c.email)
          .map((p) => `Your order ${p.order.slice(0, 8)} is paid`)
          .sort(),
      );
    }
    await sleep(2_000);
    for (const c of customers) {
      const mail = await shop.mail(c.email);
      expect(mail).toHaveLength(3);
      expect(mail.every((m) => m.receivedCount === 1)).toBe(true);
    }
    const sent = await shop.sql<{ n: number }>(
      'notifications',
      `SELECT count(*)::int AS n FROM notifications WHERE event_type = 'order.paid' AND channel = 'email'`,
    );
    expect(sent[0]!.n).toBe(10);
  }, 150_000);
});

/** Removes the exchange and queues the shop declared on the shared RabbitMQ. */
async function deleteTopology(system: string): Promise<void> {
  const connection = await amqp.connect(RABBITMQ.url);
  try {
    const channel = await connection.createChannel();
    for (const queue of await listQueues(system)) await channel.deleteQueue(queue);
    await channel.deleteExchange(`flotilla.${system}.events`);
  } finally {
    await connection.close();
  }
}

/** Queue names of a system: the main queue of each subscription and its delay queues. */
async function listQueues(system: string): Promise<string[]> {
  const { execFileSync } = await import('node:child_process');
  try {
    const out = execFileSync('rabbitmqctl', ['list_queues', '-q', 'name'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter((name) => name.startsWith(`flotilla.${system}.`));
  } catch {
    // Without rabbitmqctl, delete the queues the shop is known to declare.
    return [`flotilla.${system}.notifications`];
  }
}
