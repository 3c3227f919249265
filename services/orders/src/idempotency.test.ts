import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.ts';
import { CARDS, customer, type Shop, startShop } from '../test/harness.ts';
import { completeKey, IdempotencyKeys, type KeyClaim, LeaseLostError, requestHash } from './idempotency.ts';

type Owned = Extract<KeyClaim, { kind: 'owned' }>;

/**
 * Claims on Idempotency-Keys as leases, against the real orders database: holders in this test
 * process take claims beside the orders service's own requests, with leases far shorter than the
 * service's so that lapsing takes a fraction of a second.
 */
describe('claims on idempotency keys', () => {
  let shop: Shop;

  beforeAll(async () => {
    shop = await startShop();
  });

  afterAll(() => shop?.stop());

  const holder = (name: string, leaseMs: number) =>
    new IdempotencyKeys(shop.orders, {
      holder: name,
      leaseMs,
      renewEveryMs: leaseMs / 4,
      idleInTransactionMs: 500,
    });
  const owned = (claim: KeyClaim): Owned => {
    expect(claim.kind).toBe('owned');
    return claim as Owned;
  };

  it('lets a retry take over a key whose holder stopped renewing, once its lease has run out', async () => {
    const [a, b] = [holder('a', 500), holder('b', 500)];
    const owner = randomUUID();
    const key = randomUUID();
    // Taken before the claim: the database starts the lease at some moment after this, so the
    // takeover cannot come sooner than the lease after it, however slow the claim's round trip.
    const claimedAt = performance.now();
    const first = owned(await a.claim(owner, key, 'hash'));
    expect((await b.claim(owner, key, 'hash')).kind).toBe('busy');
    const second = await eventually(async () => owned(await b.claim(owner, key, 'hash')), 5_000, 20);
    const lapsedAfterMs = performance.now() - claimedAt;
    // The database's clock decides, to the millisecond; the bound above is this machine's patience.
    expect(lapsedAfterMs).toBeGreaterThanOrEqual(450);
    expect(lapsedAfterMs).toBeLessThan(3_000);
    expect(BigInt(second.lease.token)).toBe(BigInt(first.lease.token) + 1n);
    const [row] = await shop.ordersDb<{ lease_owner: string }>(
      'SELECT lease_owner FROM idempotency_keys WHERE owner = $1 AND key = $2',
      [owner, key],
    );
    expect(row!.lease_owner).toBe('b');
  });

  it('keeps a key busy (409) while its holder is alive and renewing it, and places the order once it lets go', async () => {
    const { id } = await shop.product({ name: 'Held lamp', stock: 5 });
    const caller = customer();
    const key = randomUUID();
    const body = { items: [{ product_id: id, quantity: 1 }], card_number: CARDS.approved };
    const order = () =>
      shop.call('/api/orders/v1/orders', { as: caller, body, headers: { 'idempotency-key': key } });
    const a = holder('a', 500);
    const claim = owned(await a.claim(caller.subject, key, requestHash(body, 'test-request-hash-key')));
    const answers: number[] = [];
    await a.hold(claim.lease, async () => {
      // Four lease lengths: only renewals keep the key.
      const until = performance.now() + 2_000;
      while (performance.now() < until) {
        const res = await order();
        answers.push(res.status);
        expect(res.body).toMatchObject({ error: { code: 'REQUEST_IN_PROGRESS' } });
        expect(res.headers.get('retry-after')).toBe('1');
        await sleep(100);
      }
    });
    expect(answers.length).toBeGreaterThanOrEqual(3);
    expect(new Set(answers)).toEqual(new Set([409]));
    // The holder stopped renewing without an outcome: the service's request takes the key over.
    const placed = await eventually(async () => {
      const res = await order();
      expect(res.status).toBe(201);
      return res;
    }, 5_000);
    expect(placed.body).toMatchObject({ status: 'paid' });
    expect(await shop.ordersDb('SELECT 1 FROM orders WHERE owner = $1', [caller.subject])).toHaveLength(1);
  });

  it('fences a holder that comes back after its key was taken over: it records nothing and frees nothing', async () => {
    const [a, b, c] = [holder('a', 300), holder('b', 10_000), holder('c', 300)];
    const owner = randomUUID();
    const key = randomUUID();
    const old = owned(await a.claim(owner, key, 'hash'));
    const taker = await eventually(async () => owned(await b.claim(owner, key, 'hash')), 5_000, 20);

    await expect(
      a.transaction(old.lease, (tx) => completeKey(tx, old.lease, 201, '"from the old holder"')),
    ).rejects.toBeInstanceOf(LeaseLostError);
    // Its failure releases only its own claim, which it no longer has.
    await expect(
      a.hold(old.lease, async () => {
        throw new Error('the old holder gives up');
      }),
    ).rejects.toThrow('gives up');
    expect((await c.claim(owner, key, 'hash')).kind).toBe('busy');

    await b.transaction(taker.lease, (tx) => completeKey(tx, taker.lease, 201, '"from the new holder"'));
    expect(await c.claim(owner, key, 'hash')).toEqual({
      kind: 'replay',
      status: 201,
      body: '"from the new holder"',
    });
  });

  it('has PostgreSQL end a transaction whose holder went quiet inside it, so a hung process cannot keep the key', async () => {
    const [a, b] = [holder('a', 300), holder('b', 10_000)];
    const owner = randomUUID();
    const key = randomUUID();
    const claim = owned(await a.claim(owner, key, 'hash'));
    let backend = 0;
    let quietAt = 0;
    let wake = () => {};
    const quiet = a.transaction(claim.lease, async (tx) => {
      // Before the last statement: the session goes idle after it, so the timeout ends it later than this.
      quietAt = performance.now();
      backend = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      // Sends nothing more, as a stopped process would, with the key's row locked.
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    });
    quiet.catch(() => undefined);
    await eventually(() => expect(backend).not.toBe(0));
    // The lease lapses after 300 ms, but the row stays locked until the session is ended.
    await eventually(async () => owned(await b.claim(owner, key, 'hash')), 5_000, 20);
    expect(performance.now() - quietAt).toBeGreaterThanOrEqual(400);
    expect(await shop.ordersDb('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [backend])).toEqual([]);
    wake();
    await expect(quiet).rejects.toThrow();
  });
});
