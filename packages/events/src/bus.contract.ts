import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.ts';
import { startTcpProxy, type TcpProxy } from '../../../test/support/tcp-proxy.ts';
import type { Bus, Consumer, Delivery } from './bus.ts';
import { createEnvelope, type EventEnvelope } from './envelope.ts';

/** How the contract suite builds buses of one implementation. */
export interface BusHarness {
  /** Where the server listens, for a TCP proxy to stand in front of. */
  readonly server: { host: string; port: number };
  /** A new bus, reaching the server at `via` (a proxy) when given. */
  create(via?: { host: string; port: number }): Bus;
  /** Removes what the suite's subscriptions left on the server. */
  cleanup?(subscriptions: readonly string[]): Promise<void>;
}

/** One delivery as a test consumer saw it. */
interface Received {
  envelope: EventEnvelope;
  attempt: number;
  atMs: number;
}

/**
 * The behaviour every bus shares, run by each implementation's test file inside its own
 * `describe`. Each test uses subscriptions and event types of its own, so tests never see each
 * other's events, and closes its buses and proxies.
 */
export function busContract(harness: BusHarness): void {
  const buses: Bus[] = [];
  const proxies: TcpProxy[] = [];
  const subscriptions: string[] = [];

  afterEach(async () => {
    await Promise.all(buses.splice(0).map((bus) => bus.close()));
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });
  afterAll(async () => {
    await harness.cleanup?.(subscriptions);
  });

  const open = (via?: { host: string; port: number }) => {
    const bus = harness.create(via);
    buses.push(bus);
    return bus;
  };
  const subscription = () => {
    const name = `sub-${randomBytes(4).toString('hex')}`;
    subscriptions.push(name);
    return name;
  };
  const eventType = () => `t${randomBytes(4).toString('hex')}.happened`;
  const event = (type: string, data: unknown = {}) =>
    createEnvelope({ type, source: '/test/contract', data });

  /** Consumes `sub`, recording each delivery and settling it with `settle` (ack by default). */
  async function record(
    bus: Bus,
    sub: string,
    settle: (d: Delivery) => Promise<void> = (d) => d.ack(),
    prefetch?: number,
  ): Promise<{ received: Received[]; consumer: Consumer }> {
    const received: Received[] = [];
    const consumer = await bus.consume(
      sub,
      async (d) => {
        received.push({ envelope: d.body as EventEnvelope, attempt: d.attempt, atMs: Date.now() });
        await settle(d);
      },
      { prefetch },
    );
    return { received, consumer };
  }
  const ids = (received: Received[]) => received.map((r) => r.envelope.id);

  it('delivers a published event to every subscription declared for its type, and to no other', async () => {
    const bus = open();
    const [a, b, other] = [subscription(), subscription(), subscription()];
    const [type, otherType] = [eventType(), eventType()];
    await bus.declare(a, [type]);
    await bus.declare(b, [otherType, type]);
    await bus.declare(other, [otherType]);
    const [atA, atB, atOther] = await Promise.all([record(bus, a), record(bus, b), record(bus, other)]);
    const sent = event(type, { n: 1, nested: { ok: true } });
    await bus.publish(sent);

    await eventually(() => {
      expect(atA.received.map((r) => r.envelope)).toEqual([sent]);
      expect(atB.received.map((r) => r.envelope)).toEqual([sent]);
    });
    expect(atA.received[0]?.attempt).toBe(1);
    await sleep(200);
    expect(atOther.received).toEqual([]);
    expect(atA.received).toHaveLength(1);
  });

  it('keeps an event published after declare and before anyone consumes, and delivers it once consuming starts', async () => {
    const bus = open();
    const sub = subscription();
    const type = eventType();
    await bus.declare(sub, [type]);
    const sent = event(type);
    await bus.publish(sent);
    await sleep(100);

    const { received } = await record(open(), sub);
    await eventually(() => expect(ids(received)).toEqual([sent.id]));
  });

  it('adds the types of a second declare to the first, and accepts the same declare twice', async () => {
    const bus = open();
    const sub = subscription();
    const [first, second] = [eventType(), eventType()];
    await bus.declare(sub, [first]);
    await bus.declare(sub, [second]);
    await bus.declare(sub, [second]);
    const { received } = await record(bus, sub);
    const [one, two] = [event(first), event(second)];
    await bus.publish(one);
    await bus.publish(two);
    await eventually(() => expect(ids(received).sort()).toEqual([one.id, two.id].sort()));
  });

  it('does not deliver an acked event again, even to a new consumer', async () => {
    const bus = open();
    const sub = subscription();
    const type = eventType();
    await bus.declare(sub, [type]);
    const first = await record(bus, sub);
    const sent = event(type);
    await bus.publish(sent);
    await eventually(() => expect(first.received).toHaveLength(1));
    await first.consumer.stop();

    const second = await record(bus, sub);
    await sleep(300);
    expect(second.received).toEqual([]);
  });

  it('redelivers a retried delivery no sooner than its delay, with attempt + 1', async () => {
    const bus = open();
    const sub = subscription();
    const type = eventType();
    await bus.declare(sub, [type]);
    let retriedAtMs = 0;
    const { received } = await record(bus, sub, async (d) => {
      if (d.attempt === 1) {
        retriedAtMs = Date.now();
        await d.retry(400);
      } else {
        await d.ack();
      }
    });
    const sent = event(type);
    await bus.publish(sent);

    await eventually(() => expect(received).toHaveLength(2));
    expect(ids(received)).toEqual([sent.id, sent.id]);
    expect(received.map((r) => r.attempt)).toEqual([1, 2]);
    expect(received[1]!.atMs - retriedAtMs).toBeGreaterThanOrEqual(400);
    expect(received[1]!.atMs - retriedAtMs).toBeLessThan(2_000);
  });

  it('keeps the attempt of a delivery retried with keepAttempt', async () => {
    const bus = open();
    const sub = subscription();
    const type = eventType();
    await bus.declare(sub, [type]);
    let calls = 0;
    const { received } = await record(bus, sub, async (d) => {
      calls++;
      if (calls <= 3) await d.retry(50, { keepAttempt: calls <= 2 });
      else await d.ack();
    });
    await bus.publish(event(type));
    await eventually(() => expect(received).toHaveLength(4));
    expect(received.map((r) => r.attempt)).toEqual([1, 1, 1, 2]);
  });

  it('delivers again a delivery that its consumer never settled, once that consumer is gone', async () => {
    const sub = subscription();
    const type = eventType();
    const dying = open();
    await dying.declare(sub, [type]);
    const held = await record(dying, sub, () => new Promise(() => undefined));
    const sent = event(type);
    await dying.publish(sent);
    await eventually(() => expect(held.received).toHaveLength(1));
    await dying.close();

    const { received } = await record(open(), sub);
    await eventually(() => expect(ids(received)).toEqual([sent.id]), 10_000);
    expect(received[0]?.attempt).toBe(1);
  });

  it('send() reaches the named subscription only, with the attempt it is given', async () => {
    const bus = open();
    const [target, bystander] = [subscription(), subscription()];
    const type = eventType();
    await bus.declare(target, [type]);
    await bus.declare(bystander, [type]);
    const [atTarget, atBystander] = await Promise.all([record(bus, target), record(bus, bystander)]);
    const sent = event(type);
    await bus.send(target, sent, { attempt: 3 });

    await eventually(() =>
      expect(atTarget.received.map((r) => [r.envelope, r.attempt])).toEqual([[sent, 3]]),
    );
    await sleep(200);
    expect(atBystander.received).toEqual([]);
  });

  it('send() with a delay delivers no sooner than the delay', async () => {
    const bus = open();
    const sub = subscription();
    await bus.declare(sub, [eventType()]);
    const { received } = await record(bus, sub);
    const sentAtMs = Date.now();
    await bus.send(sub, event(eventType()), { delayMs: 300 });

    await eventually(() => expect(received).toHaveLength(1));
    expect(received[0]!.atMs - sentAtMs).toBeGreaterThanOrEqual(300);
  });

  it('keeps at most prefetch deliveries unsettled at once, and delivers them all', async () => {
    const bus = open();
    const sub = subscription();
    const type = eventType();
    await bus.declare(sub, [type]);
    const sent = Array.from({ length: 6 }, () => event(type));
    for (const e of sent) await bus.publish(e);
    let unsettled = 0;
    let most = 0;
    const { received } = await record(
      bus,
      sub,
      async (d) => {
        unsettled += 1;
        most = Math.max(most, unsettled);
        await sleep(100);
        unsettled -= 1;
        await d.ack();
      },
      2,
    );

    await eventually(() => expect(received).toHaveLength(6));
    expect(ids(received).sort()).toEqual(sent.map((e) => e.id).sort());
    expect(most).toBe(2);
  });

  it('stop() waits for the deliveries in flight and takes no new ones', async () => {
    const bus = open();
    const sub = subscription();
    const type = eventType();
    await bus.declare(sub, [type]);
    let finished = 0;
    const { received, consumer } = await record(bus, sub, async (d) => {
      await sleep(200);
      await d.ack();
      finished += 1;
    });
    await bus.publish(event(type));
    await eventually(() => expect(received).toHaveLength(1));

    await consumer.stop();
    expect(finished).toBe(1);
    await bus.publish(event(type));
    await sleep(300);
    expect(received).toHaveLength(1);
  });

  it('resumes consuming and publishing once a cut connection is restored, losing nothing', async () => {
    const proxy = await startTcpProxy(harness.server);
    proxies.push(proxy);
    const through = open(proxy);
    const direct = open();
    const sub = subscription();
    const type = eventType();
    await through.declare(sub, [type]);
    const { received } = await record(through, sub);
    const before = event(type);
    await direct.publish(before);
    await eventually(() => expect(ids(received)).toEqual([before.id]));

    proxy.cut();
    const during = event(type);
    await direct.publish(during);
    const refusedAtMs = Date.now();
    await expect(through.publish(event(type))).rejects.toMatchObject({ code: 'EVENTS_BUS_UNAVAILABLE' });
    expect(Date.now() - refusedAtMs).toBeLessThan(2_000);
    await sleep(300);

    proxy.restore();
    const after = event(type);
    await eventually(() => through.publish(after), 10_000, 100);
    await eventually(
      () => expect(new Set(ids(received))).toEqual(new Set([before.id, during.id, after.id])),
      10_000,
    );
  });
}
