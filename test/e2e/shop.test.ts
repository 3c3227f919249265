import { createPrivateKey, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { base64url, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningShop, startShop } from './shop.ts';

interface Product {
  id: string;
  name: string;
  stock: number;
}
interface Order {
  id: string;
  status: string;
  total_cents: number;
}

const CARD = '4242 4242 4242 4242';

/**
 * The reference shop as a user runs it: `flotilla up` on the shipped flotilla.yaml, every call
 * through the gateway, mail through the control plane's SMTP sink. Nothing is mocked.
 */
describe('the shop, end to end through the gateway', () => {
  let shop: RunningShop;
  let admin: string;

  beforeAll(async () => {
    shop = await startShop();
    admin = await shop.adminToken();
  }, 120_000);

  afterAll(() => shop?.stop(), 60_000);

  const createProduct = async (name: string, description: string, stock: number, price_cents = 1_250) => {
    const res = await shop.api<Product>('/api/catalog/v1/products', {
      token: admin,
      body: { sku: `sku-${randomUUID().slice(0, 8)}`, name, description, price_cents, stock },
    });
    expect(res.status).toBe(201);
    return res.body;
  };
  const placeOrder = (token: string, product: string, quantity: number, key = randomUUID()) =>
    shop.api<Order>('/api/orders/v1/orders', {
      token,
      body: { items: [{ product_id: product, quantity }], card_number: CARD },
      headers: { 'idempotency-key': key },
    });

  it('registers, signs in, orders, pays, mails, cancels, restocks and mails again', async () => {
    const email = `ada-${randomUUID()}@shop.test`;
    const registered = await shop.api<{ id: string }>('/api/identity/v1/register', {
      body: { email, name: 'Ada', password: 'correct horse battery staple' },
    });
    expect(registered.status).toBe(201);
    const signedIn = await shop.api<{ access_token: string; token_type: string; expires_in: number }>(
      '/api/identity/v1/token',
      { body: { email, password: 'correct horse battery staple' } },
    );
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.token_type).toBe('Bearer');
    const token = signedIn.body.access_token;
    const me = await shop.api<{ id: string; email: string; roles: string[] }>('/api/users/v1/me', { token });
    expect(me.body).toMatchObject({ id: registered.body.id, email, roles: ['customer'] });

    const lamp = await createProduct('Brass reading lamp', 'A warm light for long evenings', 3, 4_900);
    const found = await shop.api<{ items: Product[] }>('/api/catalog/v1/products?q=reading%20lamp');
    expect(found.status).toBe(200);
    expect(found.body.items.map((p) => p.id)).toContain(lamp.id);

    const placed = await placeOrder(token, lamp.id, 2);
    expect(placed.status).toBe(201);
    expect(placed.body).toMatchObject({ status: 'paid', total_cents: 9_800 });
    const afterOrder = await shop.api<Product>(`/api/catalog/v1/products/${lamp.id}`);
    expect(afterOrder.body.stock).toBe(1);

    const [welcome, receipt] = await shop.waitForMail(email, 2);
    expect([welcome, receipt].map((m) => m!.subject).sort()).toEqual([
      'Welcome to the shop',
      `Your order ${placed.body.id.slice(0, 8)} is paid`,
    ]);
    const paidMail = [welcome, receipt].find((m) => m!.subject.includes('is paid'))!;
    expect(paidMail.text).toContain('98.00 EUR');

    const cancelled = await shop.api<Order>(`/api/orders/v1/orders/${placed.body.id}/cancel`, {
      token,
      method: 'POST',
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const afterCancel = await shop.api<Product>(`/api/catalog/v1/products/${lamp.id}`);
    expect(afterCancel.body.stock).toBe(3);

    const all = await shop.waitForMail(email, 3);
    expect(all.map((m) => m.subject)).toContain(`Your order ${placed.body.id.slice(0, 8)} is cancelled`);
    expect(all.every((m) => m.receivedCount === 1)).toBe(true);

    const notes = await shop.api<{ items: { channel: string; subject: string }[] }>(
      '/api/notifications/v1/notifications',
      { token },
    );
    expect(notes.status).toBe(200);
    expect(notes.body.items.filter((n) => n.channel === 'email')).toHaveLength(3);

    const listed = await shop.cliRun(['mail', '--to', email]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('Welcome to the shop');
    expect(listed.stdout).toContain('is cancelled');
  }, 60_000);

  it('lists a dead-lettered event with flotilla dead-letters, and replays it into an email', async () => {
    const { id, email } = await shop.customer();
    await shop.waitForMail(email, 1);
    // A real dead letter takes ten failed deliveries over about a minute and a half (the consumer
    // tests show that path); here the row is written as the consumer writes one, and the listing and
    // the replay through the CLI, the bus and the inbox are the real ones.
    const orderId = randomUUID();
    const envelope = {
      specversion: '1.0',
      id: randomUUID(),
      type: 'order.paid',
      source: '/shop/orders',
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: {
        order_id: orderId,
        user_id: id,
        total_cents: 1_250,
        currency: 'EUR',
        items: [{ product_id: randomUUID(), name: 'Replayed mug', quantity: 1, unit_price_cents: 1_250 }],
      },
    };
    await shop.sql(
      'notifications',
      `INSERT INTO flotilla_dead_letters (subscription, envelope, error, attempts)
       VALUES ('notifications', $1, 'UnknownRecipientError: no recipient yet', 10)`,
      [JSON.stringify(envelope)],
    );
    const listed = await shop.cliRun(['dead-letters']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('order.paid');
    expect(listed.stdout).toContain(envelope.id);
    const replayed = await shop.cliRun(['dead-letters', 'replay', 'notifications', '--all']);
    expect(replayed.code).toBe(0);
    const mail = await shop.waitForMail(email, 2);
    expect(mail.map((m) => m.subject)).toContain(`Your order ${orderId.slice(0, 8)} is paid`);
    expect((await shop.cliRun(['dead-letters'])).stdout).toContain('no dead letters');
  });

  describe('security (OWASP API Top 10 where it applies)', () => {
    it("never shows a customer another customer's order or notifications (API1, BOLA)", async () => {
      const [alice, mallory] = await Promise.all([shop.customer(), shop.customer()]);
      const cup = await createProduct('Enamel cup', 'Camping cup', 5);
      const order = await placeOrder(alice.token, cup.id, 1);
      expect(order.status).toBe(201);
      const theirs = await shop.api(`/api/orders/v1/orders/${order.body.id}`, { token: mallory.token });
      expect(theirs.status).toBe(404);
      const cancel = await shop.api(`/api/orders/v1/orders/${order.body.id}/cancel`, {
        token: mallory.token,
        method: 'POST',
      });
      expect(cancel.status).toBe(404);
      const list = await shop.api<{ items: Order[] }>('/api/orders/v1/orders', { token: mallory.token });
      expect(list.body.items).toEqual([]);
      await shop.waitForMail(alice.email, 2);
      const aliceNotes = await shop.api<{ items: unknown[] }>('/api/notifications/v1/notifications', {
        token: alice.token,
      });
      const malloryNotes = await shop.api<{ items: { address: string }[] }>(
        '/api/notifications/v1/notifications',
        { token: mallory.token },
      );
      expect(aliceNotes.body.items.length).toBeGreaterThanOrEqual(2);
      expect(malloryNotes.body.items.every((n) => n.address !== alice.email)).toBe(true);
    });

    it('keeps customers off admin routes (API5) and ignores a role in the registration body (API3)', async () => {
      const email = `eve-${randomUUID()}@shop.test`;
      const password = 'i would like to be admin please';
      const registered = await shop.api<{ roles: string[] }>('/api/identity/v1/register', {
        body: { email, name: 'Eve', password, role: 'admin', roles: ['admin'] },
      });
      expect(registered.status).toBe(201);
      expect(registered.body.roles).toEqual(['customer']);
      const token = (
        await shop.api<{ access_token: string }>('/api/identity/v1/token', { body: { email, password } })
      ).body.access_token;
      const create = await shop.api('/api/catalog/v1/products', {
        token,
        body: { sku: 'evil', name: 'Evil', price_cents: 1, stock: 1 },
      });
      expect(create.status).toBe(403);
      const rotate = await shop.api('/api/identity/v1/keys/rotate', { token, method: 'POST' });
      expect(rotate.status).toBe(403);
      const anonymous = await shop.api('/api/catalog/v1/products', {
        body: { sku: 'anon', name: 'Anon', price_cents: 1, stock: 1 },
      });
      expect(anonymous.status).toBe(401);
    });

    it('ignores identity headers a client sends, with or without a token (API2)', async () => {
      const forged = { 'x-flotilla-subject': 'admin', 'x-flotilla-roles': 'admin' };
      const anonymous = await shop.api('/api/catalog/v1/products', {
        headers: forged,
        body: { sku: 'forged', name: 'Forged', price_cents: 1, stock: 1 },
      });
      expect(anonymous.status).toBe(401);
      const [customer, victim] = await Promise.all([shop.customer(), shop.customer()]);
      const asAdmin = await shop.api('/api/catalog/v1/products', {
        token: customer.token,
        headers: forged,
        body: { sku: `forged-${randomUUID().slice(0, 6)}`, name: 'Forged', price_cents: 1, stock: 1 },
      });
      expect(asAdmin.status).toBe(403);
      const cup = await createProduct('Forged cup', '', 2);
      const theirs = await placeOrder(victim.token, cup.id, 1);
      const asVictim = await shop.api<{ items: Order[] }>('/api/orders/v1/orders', {
        token: customer.token,
        headers: { 'x-flotilla-subject': victim.id },
      });
      expect(asVictim.status).toBe(200);
      expect(asVictim.body.items.map((o) => o.id)).not.toContain(theirs.body.id);
    });

    it("refuses every token of the gateway tests' attack set (API2)", async () => {
      const real = (await shop.customer()).token;
      const [header, payload, signature] = real.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
      const { kid } = decodeProtectedHeader(real);
      const now = Math.floor(Date.now() / 1000);
      const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const signWith = (extra: Record<string, unknown>, key = stranger.privateKey, alg = 'EdDSA') =>
        new SignJWT({ ...claims, ...extra }).setProtectedHeader({ alg, kid: kid ?? 'x' }).sign(key);
      const jwks = (await shop.api<{ keys: { x: string }[] }>('/.well-known/jwks.json')).body;
      const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
      const attacks: Record<string, string> = {
        'alg none': `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ ...claims, roles: ['admin'] })}.`,
        'payload edited to admin': `${header}.${encode({ ...claims, roles: ['admin'] })}.${signature}`,
        'signed by a stranger with the real kid': await signWith({ roles: ['admin'] }),
        // Key confusion: HMAC with the public key's bytes as the secret.
        'HS256 with the public key as secret': await new SignJWT({ ...claims, roles: ['admin'] })
          .setProtectedHeader({ alg: 'HS256', kid: kid ?? 'x' })
          .sign(new TextEncoder().encode(jwks.keys[0]!.x)),
        'expired an hour ago': await signWith({ exp: now - 3_600 }),
        'truncated signature': `${header}.${payload}.${signature.slice(0, -4)}`,
        'no signature': `${header}.${payload}`,
        garbage: 'not-a-token',
      };
      // Tokens the shop's own key would have signed but with claims it never issues are in the
      // gateway's unit tests; here, the real deployment refuses what an outsider can make.
      for (const [attack, token] of Object.entries(attacks)) {
        const res = await shop.api('/api/orders/v1/orders', { token });
        expect(res.status, attack).toBe(401);
        const create = await shop.api('/api/catalog/v1/products', {
          token,
          body: { sku: `x-${randomUUID().slice(0, 6)}`, name: 'X', price_cents: 1, stock: 1 },
        });
        expect(create.status, attack).toBe(401);
      }
      expect((await shop.api('/api/orders/v1/orders', { token: real })).status).toBe(200);
      // The private key never leaves the users service: the JWKS holds public halves only.
      for (const key of jwks.keys as Record<string, unknown>[]) expect(key.d).toBeUndefined();
      expect(() => createPrivateKey({ key: jwks.keys[0] as never, format: 'jwk' })).toThrow();
    });

    it('cannot reach payments through the gateway by any path', async () => {
      const { token } = await shop.customer();
      const body = JSON.stringify({
        order_id: randomUUID(),
        amount_cents: 100,
        currency: 'EUR',
        card_number: CARD,
      });
      // Sent as raw request targets: fetch would resolve the dot segments before they left the client.
      for (const path of [
        '/internal/payments/v1/charges',
        '/api/payments/v1/charges',
        '/api/orders/v1/../../internal/payments/v1/charges',
        '/api/orders/v1/%2e%2e/%2e%2e/internal/payments/v1/charges',
        '/api/orders/v1/%2E%2E%2F%2E%2E%2Finternal/payments/v1/charges',
      ]) {
        const status = await rawPost(shop.gatewayUrl, path, token, body);
        expect([400, 404, 405], path).toContain(status);
      }
      const charges = await shop.sql('payments', 'SELECT 1 FROM payment_charges WHERE amount_cents = 100');
      expect(charges).toEqual([]);
    });

    it('refuses a direct call to a payments instance: plaintext, or TLS without a workload certificate (API8)', async () => {
      const { services } = await shop.status();
      const instance = services.find((s) => s.name === 'payments')!.instances[0]!;
      const body = JSON.stringify({
        order_id: randomUUID(),
        amount_cents: 101,
        currency: 'EUR',
        card_number: CARD,
      });
      // mtls: strict: plaintext is for probes and scrapes only.
      const plain = await fetch(`http://127.0.0.1:${instance.port}/internal/payments/v1/charges`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(plain.status).toBe(403);
      expect(((await plain.json()) as { error: { code: string } }).error.code).toBe('MTLS_REQUIRED');
      expect((await fetch(`http://127.0.0.1:${instance.port}/readyz`)).status).toBe(200);
      // A TLS client that presents no certificate never gets past the handshake.
      const handshake = await new Promise<string>((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: instance.port, rejectUnauthorized: false });
        socket.once('secureConnect', () => {
          socket.write(
            `POST /internal/payments/v1/charges HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
          );
        });
        socket.once('data', (chunk: Buffer) =>
          resolve(`answered ${chunk.toString('utf8').split('\r\n')[0]}`),
        );
        socket.once('error', (err: NodeJS.ErrnoException) => resolve(`refused ${err.code ?? err.message}`));
        socket.once('close', () => resolve('refused (closed)'));
      });
      expect(handshake).toMatch(/^refused/);
      const charges = await shop.sql('payments', 'SELECT 1 FROM payment_charges WHERE amount_cents = 101');
      expect(charges).toEqual([]);
    });
  });
});

/** POSTs to `path` exactly as written, and answers the status. */
function rawPost(base: string, path: string, token: string, body: string): Promise<number> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        method: 'POST',
        path,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
