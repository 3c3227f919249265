import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeLoad,
  type LoadCustomer,
  outcomesBetween,
  startOrderLoad,
  verifyOrders,
} from './order-load.ts';
import { type RunningShop, shopSpec, startShop } from './shop.ts';
import { alive, processesOf, type RunningSystem, startSystem, waitFor } from './support.ts';

/**
 * Short enough that every instance renews (at half of it) while the test runs, long enough that
 * the certificates held when the control plane is killed outlive the restart and the renewals'
 * retry backoff (as the default hour does by far).
 */
const CERTIFICATE_TTL_MS = 60_000;

/** The `ready in N s` a `flotilla up` printed, in ms, once it has. */
async function readyInMs(system: RunningSystem): Promise<number> {
  const line = /^ready in (\d+\.\d) s$/m;
  await waitFor('flotilla up to say it is ready', () => line.test(system.output()), 60_000);
  return Number(line.exec(system.output())![1]) * 1_000;
}

/** When the certificate an instance serves mutual TLS with became valid, by a TLS handshake with it. */
async function certificateNotBefore(port: number): Promise<number> {
  const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  socket.on('error', () => {});
  try {
    await once(socket, 'secureConnect');
    return new Date(socket.getPeerCertificate().valid_from).getTime();
  } finally {
    socket.destroy();
  }
}

/** Pid of every instance by id, from a status. */
async function pidsOf(system: RunningSystem): Promise<Map<string, number>> {
  const status = await system.status();
  return new Map(status.services.flatMap((s) => s.instances.map((i) => [i.id, i.pid!] as const)));
}

/**
 * A control plane killed with SIGKILL under load, and `flotilla up` run again on the same
 * directory: the new control plane adopts the instances, the gateway replicas and PostgreSQL as
 * they run, on the ports they know, with the tokens they hold, so the clients never notice.
 * Before adoption, the same restart stopped everything and started it again: a 17 s hard outage
 * and 28 s of overload.
 */
describe('a control plane restarted under load', () => {
  let shop: RunningShop;
  let second: RunningSystem | undefined;
  let customers: LoadCustomer[];
  let admin: string;
  let freshStartMs: number;

  beforeAll(async () => {
    shop = await startShop({ certificateTtlMs: CERTIFICATE_TTL_MS });
    freshStartMs = await readyInMs(shop);
    admin = await shop.adminToken();
    customers = await Promise.all(Array.from({ length: 3 }, () => shop.customer()));
  }, 120_000);

  afterAll(async () => {
    if (second && second.cli.exitCode === null) second.cli.kill('SIGKILL');
    await shop?.stop();
  }, 60_000);

  it('answers every order (0 errors seen by the client) across kill -9 and `up` again, with the same processes serving', async () => {
    const stock = 10_000;
    let productId = '';
    // Set-up, not the point: a replica that is briefly unready on a busy machine may answer 503.
    await waitFor(
      'the product to be created',
      async () => {
        const res = await shop.api<{ id: string }>('/api/catalog/v1/products', {
          token: admin,
          body: { sku: `sku-${randomUUID().slice(0, 8)}`, name: 'Restart lamp', price_cents: 700, stock },
        });
        productId = res.body.id;
        return res.status === 201;
      },
      30_000,
    );
    const before = await pidsOf(shop);
    const postgresPid = (await shop.status()).postgres.server?.pid;

    const load = startOrderLoad(shop, { productId, customers, ratePerS: 10 });
    await waitFor('20 acknowledged orders', () => load.acknowledgedCount() >= 20, 30_000);
    shop.cli.kill('SIGKILL');
    await once(shop.cli, 'exit');
    const killedAt = Date.now();
    const killedAtMs = load.now();
    const acknowledgedAtKill = load.acknowledgedCount();

    second = await startSystem(shopSpec(shop.system, { certificateTtlMs: CERTIFICATE_TTL_MS }), shop.dir);
    const adoptMs = await readyInMs(second);
    const adoptedAtMs = load.now();
    expect(second.output()).toContain(`adopted ${before.size} still running from an earlier run`);
    // The ports the running processes know: the same gateway, admin API (watch, certificates) and sink.
    expect([second.gatewayUrl, second.adminUrl]).toEqual([shop.gatewayUrl, shop.adminUrl]);
    expect(await pidsOf(second)).toEqual(before);
    const status = await second.status();
    expect(postgresPid).toBeDefined();
    expect(status.postgres.server?.pid).toBe(postgresPid);

    // Every instance renews its certificate with the new control plane, with the token it was started with.
    // Services serve mutual TLS on their port; a gateway replica's own port is its plaintext admin port.
    const instances = status.services.filter((s) => s.name !== 'gateway').flatMap((s) => s.instances);
    await waitFor(
      'every adopted instance to hold a certificate the new control plane issued',
      async () => {
        const since = await Promise.all(instances.map((i) => certificateNotBefore(i.port)));
        // The CA back-dates notBefore by its 60 s clock-skew allowance.
        return since.every((notBefore) => notBefore + 60_000 >= killedAt);
      },
      CERTIFICATE_TTL_MS,
    );

    await waitFor(
      '20 more acknowledged orders',
      () => load.acknowledgedCount() >= acknowledgedAtKill + 20,
      30_000,
    );
    const report = await load.stop();
    console.log(
      `${describeLoad(report)}; up took ${(adoptMs / 1_000).toFixed(1)} s adopting vs ${(freshStartMs / 1_000).toFixed(1)} s fresh`,
    );
    console.log(
      `from the kill until the new control plane was ready (${Math.round(adoptedAtMs - killedAtMs)} ms), not 201:`,
      outcomesBetween(report, killedAtMs, adoptedAtMs),
    );
    expect(report.retried).toEqual({});
    expect(report.hardErrors).toEqual([]);
    expect(report.givenUp).toEqual([]);
    await verifyOrders(shop, report, productId, stock);
  }, 240_000);

  it('restarts an adopted instance that is killed, as one of its own', async () => {
    const system = second!;
    const [victim] = await system.instances('payments');
    process.kill(victim!.pid!, 'SIGKILL');
    await waitFor(
      `${victim!.id} to be restarted and ready`,
      async () => {
        const now = (await system.instances('payments')).find((i) => i.id === victim!.id);
        return now?.state === 'ready' && now.pid !== victim!.pid && now.restarts === 1;
      },
      30_000,
    );
    expect(alive(victim!.pid!)).toBe(false);
  }, 60_000);

  it('stops everything it adopted on Ctrl-C: no process of the system is left', async () => {
    const system = second!;
    system.cli.kill('SIGINT');
    await waitFor('flotilla up to exit', () => system.cli.exitCode !== null, 30_000);
    expect(system.cli.exitCode).toBe(0);
    await waitFor('no process of the system', () => processesOf(shop.system, shop.dir).length === 0, 10_000);
  }, 60_000);

  it('leaves no process behind after a second Ctrl-C (forced stop), PostgreSQL included', async () => {
    const third = await startSystem(
      shopSpec(shop.system, { certificateTtlMs: CERTIFICATE_TTL_MS }),
      shop.dir,
    );
    second = third;
    await readyInMs(third);
    expect(third.output()).not.toMatch(/adopted/);
    third.cli.kill('SIGINT');
    await waitFor('the graceful stop to begin', () => third.output().includes('stopping...'), 10_000);
    third.cli.kill('SIGINT');
    await waitFor('flotilla up to exit', () => third.cli.exitCode !== null, 10_000);
    expect(third.output()).toMatch(/forced stop\n/);
    await waitFor('no process of the system', () => processesOf(shop.system, shop.dir).length === 0, 10_000);
  }, 120_000);
});
