import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CaRotation, EjectionStatus, SystemStatus } from '@flotilla/control-plane/types';
import { CONTROL_PATHS, type RoutingTable } from '@flotilla/spec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Answer,
  chainOf,
  closedLoop,
  errorCodeOf,
  failuresOf,
  firstFailures,
  get,
  issuedBy,
  type MeshLabOverrides,
  meshLabSpec,
  openLoop,
  SERVICES,
  servingCertificate,
  servingSerial,
  sumOver,
} from './mesh-lab.ts';
import { type RunningSystem, startSystem, stopAsCtrlC, tempDir, waitFor } from './support.ts';

/** A running lab, and the directory of back's control files. */
interface Lab {
  sys(): RunningSystem;
  labDir: string;
  /** Runs `flotilla up` again in the same directory, as a user would after the first one died. */
  upAgain(): Promise<RunningSystem>;
}

/**
 * Starts the mesh lab with `flotilla up` for the tests of one describe, on free ports with its
 * state in a temp directory, and stops it afterwards as Ctrl-C would, leaving no process behind.
 */
function meshLab(overrides: MeshLabOverrides): Lab {
  const name = `ml-${randomBytes(3).toString('hex')}`;
  const dir = tempDir();
  const labDir = join(dir, 'lab');
  mkdirSync(labDir);
  const spec = meshLabSpec(name, labDir, overrides);
  const started: RunningSystem[] = [];
  beforeAll(async () => {
    started.push(await startSystem(spec, dir));
  }, 90_000);
  afterAll(async () => {
    const { left, exitCode } = await stopAsCtrlC(
      started.map((s) => s.cli),
      name,
      dir,
    );
    expect(left, 'processes still running after flotilla up exited').toEqual([]);
    if (started.length > 0) expect(exitCode, 'exit code of flotilla up after Ctrl-C').toBe(0);
  }, 30_000);
  return {
    sys: () => started.at(-1)!,
    labDir,
    async upAgain() {
      const sys = await startSystem(spec, dir);
      started.push(sys);
      return sys;
    },
  };
}

/** The instance ports of a service, where its /metrics can be read. */
async function portsOf(sys: RunningSystem, service: string): Promise<number[]> {
  return (await sys.instances(service)).map((instance) => instance.port);
}

/** Requests a service's instances answered to calls from `sourceWorkload`, as they count them. */
function receivedFrom(ports: readonly number[], sourceWorkload: string): Promise<number> {
  return sumOver(ports, 'istio_requests_total', { reporter: 'destination', source_workload: sourceWorkload });
}

/** Who ejects an instance now, as GET /v1/status says; null when nobody does. */
async function ejectionOf(sys: RunningSystem, id: string): Promise<EjectionStatus | null> {
  const instances = (await sys.status()).services.flatMap((s) => s.instances);
  return instances.find((i) => i.id === id)?.ejected ?? null;
}

/** Who ejects an instance now, as `flotilla status --json` prints it; null when nobody does. */
async function ejectionShownByCli(sys: RunningSystem, id: string): Promise<EjectionStatus | null> {
  const { code, stdout, stderr } = await sys.cliRun(['status', '--json']);
  if (code !== 0) throw new Error(`flotilla status --json exited with ${code}: ${stderr}`);
  const instances = (JSON.parse(stdout) as SystemStatus).services.flatMap((s) => s.instances);
  return instances.find((i) => i.id === id)?.ejected ?? null;
}

/**
 * The roots the routing table says to trust now, oldest first, read as a data-plane process reads
 * them (GET /v1/table; the admin token may read what the data-plane token may).
 */
async function trustBundleOf(sys: RunningSystem): Promise<X509Certificate[]> {
  const res = await fetch(`${sys.adminUrl}${CONTROL_PATHS.table}`, {
    headers: { authorization: `Bearer ${sys.token}` },
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw new Error(`GET ${CONTROL_PATHS.table} answered ${res.status}`);
  const table = (await res.json()) as RoutingTable;
  return table.mesh.trustBundle.map((pem) => new X509Certificate(pem));
}

/** The answers among `answers` that started within [from, to] (ms since the epoch). */
function startedWithin(answers: readonly Answer[], from: number, to: number): Answer[] {
  return answers.filter((a) => a.startedAt >= from && a.startedAt <= to);
}

const RETRY_BUDGET = { percent: 20, minRetriesPerSecond: 1 };
const BASE_EJECTION_MS = 15_000;
const ROUTE_TIMEOUT_MS = 3_000;
const CONCURRENCY = 10;

describe('the mesh lab: front -> middle -> back (3 replicas) under strict mutual TLS', () => {
  const lab = meshLab({
    // An hour: no renewal falls due while the control plane is away in the last test.
    certificateTtlMs: 3_600_000,
    resilience: {
      // Retries are at their defaults (2 attempts on connect failure, reset and 503; never 500);
      // a budget of 1 retry/s beyond the 20% makes the bound during an outage a tight one.
      retryBudget: RETRY_BUDGET,
      // Long enough to outlast a test's load, short enough to watch an endpoint come back.
      outlierDetection: { baseEjectionMs: BASE_EJECTION_MS },
    },
    // The gateway does not retry front, so the hops that retry are front -> middle and middle -> back.
    serviceResilience: { front: { retries: { attempts: 0 } } },
    routeTimeoutMs: ROUTE_TIMEOUT_MS,
  });

  it('refuses a plaintext GET / on an instance port with 403 MTLS_REQUIRED, and answers its /healthz', async () => {
    const [port] = await portsOf(lab.sys(), 'back');
    const refused = await get(`http://127.0.0.1:${port}/`);
    expect(refused.status).toBe(403);
    expect(errorCodeOf(refused.body)).toBe('MTLS_REQUIRED');
    expect((await get(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  }, 10_000);

  it('refuses with 403 FORBIDDEN_BY_POLICY a call from a workload no policy allows, and counts it by source', async () => {
    const sys = lab.sys();
    const backPorts = await portsOf(sys, 'back');
    const denied = () =>
      sumOver(backPorts, 'flotilla_authorization_denied_total', { source_workload: 'front' });
    const before = await denied();
    const answer = await get(`${sys.gatewayUrl}/call/back`);
    expect(answer.status).toBe(403);
    expect(errorCodeOf(answer.body)).toBe('FORBIDDEN_BY_POLICY');
    expect((await denied()) - before).toBe(1);
    // The chain itself is allowed hop by hop.
    const allowed = await get(sys.gatewayUrl);
    expect(allowed.status).toBe(200);
    expect(chainOf(allowed)).toHaveLength(3);
  }, 10_000);

  it('answers 504 at the 3 s deadline of a request back delays 7 s, and the cancellation reaches back', async ({
    annotate,
  }) => {
    const sys = lab.sys();
    writeFileSync(join(lab.labDir, 'delay-ms'), '7000');
    let answer: Answer;
    try {
      answer = await get(sys.gatewayUrl, undefined, 10_000);
    } finally {
      rmSync(join(lab.labDir, 'delay-ms'));
    }
    expect(answer.status, answer.body).toBe(504);
    const elapsedMs = answer.endedAt - answer.startedAt;
    expect(elapsedMs).toBeGreaterThanOrEqual(2_800);
    expect(elapsedMs).toBeLessThanOrEqual(4_000);

    const abortedFiles = () => readdirSync(lab.labDir).filter((f) => f.startsWith('aborted-'));
    const timeIn = (file: string) => Number(readFileSync(join(lab.labDir, file), 'utf8') || Number.NaN);
    // The time written is what is asserted on: how long it takes to see it is not the point.
    await waitFor(
      'back to write when its request was aborted',
      () => abortedFiles().some((f) => Number.isFinite(timeIn(f))),
      10_000,
    );
    const files = abortedFiles();
    expect(files, 'back requests aborted').toHaveLength(1);
    const abortedAt = timeIn(files[0]!);
    await annotate(`504 after ${elapsedMs} ms; back aborted ${abortedAt - answer.endedAt} ms after the 504`);
    // Through front and middle, at the deadline: not before it, and within a second of the 504.
    expect(abortedAt - answer.startedAt).toBeGreaterThanOrEqual(2_500);
    expect(abortedAt - answer.endedAt).toBeLessThanOrEqual(1_000);
    rmSync(join(lab.labDir, files[0]!));
  }, 20_000);

  it(`ejects the one back endpoint of three that answers 500 after at most 5 + ${CONCURRENCY} errors, and takes it back once it behaves`, async ({
    annotate,
  }) => {
    const sys = lab.sys();
    const victim = (await sys.instances('back'))[1]!;
    const [middle] = await sys.instances('middle');
    const victimReceived = () => receivedFrom([victim.port], 'middle-v1');
    const before = await victimReceived();
    const failFile = join(lab.labDir, `fail-${victim.id}`);
    writeFileSync(failFile, '');
    let answers: Answer[];
    let received: number;
    let ejected: EjectionStatus | null = null;
    try {
      answers = await closedLoop(sys.gatewayUrl, 300, CONCURRENCY);
      received = (await victimReceived()) - before;
      await waitFor(
        'flotilla status --json to show the ejection',
        async () => {
          ejected = await ejectionShownByCli(sys, victim.id);
          return ejected !== null;
        },
        10_000,
      );
    } finally {
      rmSync(failFile);
    }
    const errors = answers.filter((a) => a.status !== 200);
    await annotate(`errors seen: ${errors.length}, requests the failing endpoint received: ${received}`);
    expect(failuresOf(errors), 'what the client saw besides 200').toEqual(
      errors.length === 0 ? {} : { '500 FAILING': errors.length },
    );
    expect(errors.length, 'errors the client saw').toBeLessThanOrEqual(5 + CONCURRENCY);
    expect(received, 'requests the failing endpoint received').toBeLessThanOrEqual(5 + CONCURRENCY);
    expect(ejected, 'ejected in flotilla status --json').toMatchObject({ by: [middle!.id] });

    await waitFor(
      'the ejection to end',
      async () => (await ejectionOf(sys, victim.id)) === null,
      BASE_EJECTION_MS + 10_000,
    );
    const after = await closedLoop(sys.gatewayUrl, 60, 3);
    expect(failuresOf(after), firstFailures(after)).toEqual({});
    expect(
      after.filter((a) => chainOf(a).includes(victim.id)).length,
      'answers by the endpoint back',
    ).toBeGreaterThan(0);
  }, 60_000);

  it('keeps the retries to a dependency down for 20 s within the budget at both retrying hops, and recovers fully', async ({
    annotate,
  }) => {
    const sys = lab.sys();
    const [frontPorts, middlePorts, backPorts] = (await Promise.all(
      SERVICES.map((s) => portsOf(sys, s)),
    )) as [number[], number[], number[]];
    // What each hop received, counted by the receiving instances themselves.
    const hops = async () => {
      const [front, middle, back] = await Promise.all([
        receivedFrom(frontPorts, 'gateway'),
        receivedFrom(middlePorts, 'front-v1'),
        receivedFrom(backPorts, 'middle-v1'),
      ]);
      return { front, middle, back, at: Date.now() };
    };
    const down = join(lab.labDir, 'down');
    const load = openLoop(sys.gatewayUrl, { ratePerS: 25, durationMs: 34_000 });
    await sleep(4_000);
    const start = await hops();
    writeFileSync(down, '');
    const downAt = Date.now();
    try {
      await sleep(20_000);
    } finally {
      rmSync(down, { force: true });
    }
    const upAt = Date.now();
    const end = await hops();
    const answers = await load;

    const outageS = (end.at - start.at) / 1000;
    const calls = end.front - start.front;
    const middleGot = end.middle - start.middle;
    const backGot = end.back - start.back;
    const { percent, minRetriesPerSecond } = RETRY_BUDGET;
    // Requests in flight when a count was read, and the bucket starting full: a few per hop.
    const slack = 10;
    const hopBound = (callsIn: number) =>
      callsIn * (1 + percent / 100) + minRetriesPerSecond * outageS + slack;
    const measured = { outageS, calls, middleGot, backGot, bound: hopBound(hopBound(calls)) };
    const why = `measured: ${JSON.stringify(measured)}`;
    await annotate(why);

    const outage = startedWithin(answers, downAt + 1_000, upAt - 1_000);
    expect(outage.filter((a) => a.status === 503).length, 'requests that saw the outage').toBeGreaterThan(
      outage.length * 0.9,
    );
    // The gateway does not retry: front got the calls the client made while back was down.
    expect(Math.abs(calls - startedWithin(answers, start.at, end.at).length), why).toBeLessThanOrEqual(10);
    // Retries were made, and stayed within the budget at each hop.
    expect(middleGot, why).toBeGreaterThan(calls);
    expect(middleGot, why).toBeLessThanOrEqual(hopBound(calls));
    expect(backGot, why).toBeGreaterThan(middleGot);
    expect(backGot, why).toBeLessThanOrEqual(hopBound(middleGot));
    expect(backGot, why).toBeLessThanOrEqual(hopBound(hopBound(calls)));
    // Two retries at each of two hops, unbounded, would send back 9 requests per call.
    expect(backGot, why).toBeLessThan((9 * calls) / 3);

    const recovered = answers.filter((a) => a.startedAt > upAt + 5_000);
    expect(recovered.length).toBeGreaterThanOrEqual(100);
    expect(failuresOf(recovered), `started 5 s after back came back: ${firstFailures(recovered)}`).toEqual(
      {},
    );
  }, 60_000);

  it('carries traffic without a failure while the control plane is killed, and after a new flotilla up takes over', async ({
    annotate,
  }) => {
    const sys = lab.sys();
    const { controlPlane } = await sys.status();
    expect(controlPlane.pid).toBe(sys.cli.pid);
    const load = openLoop(sys.gatewayUrl, { ratePerS: 25, durationMs: 13_000 });
    await sleep(2_000);
    process.kill(controlPlane.pid, 'SIGKILL');
    await waitFor('the control plane to die', () => sys.cli.signalCode !== null || sys.cli.exitCode !== null);
    const killedAt = Date.now();
    const answers = await load;
    await annotate(
      `${startedWithin(answers, killedAt, Date.now()).length} requests while the control plane was dead`,
    );
    expect(startedWithin(answers, killedAt, Date.now()).length).toBeGreaterThanOrEqual(10 * 25 * 0.9);
    expect(failuresOf(answers), firstFailures(answers)).toEqual({});

    const second = await lab.upAgain();
    const after = await closedLoop(second.gatewayUrl, 100, 5);
    expect(failuresOf(after), firstFailures(after)).toEqual({});
    expect(chainOf(after[0]!)).toHaveLength(3);
  }, 90_000);
});

describe('the mesh lab with certificates that live 4 s', () => {
  const lab = meshLab({ certificateTtlMs: 4_000 });

  it('renews every instance certificate about every 2 s under 12 s of load at 50 req/s without failing a request', async ({
    annotate,
  }) => {
    const sys = lab.sys();
    const instances = (await sys.status()).services
      .filter((s) => s.kind === 'service')
      .flatMap((s) => s.instances);
    expect(instances).toHaveLength(5);
    const serials = new Map(instances.map((i) => [i.id, new Set<string>()]));
    const loadMs = 12_000;
    const sampling = (async () => {
      const end = Date.now() + loadMs;
      while (Date.now() < end) {
        const now = await Promise.all(instances.map((i) => servingSerial(i.port)));
        for (const [n, instance] of instances.entries()) serials.get(instance.id)!.add(now[n]!);
        await sleep(1_000);
      }
    })();
    const [answers] = await Promise.all([
      openLoop(sys.gatewayUrl, { ratePerS: 50, durationMs: loadMs }),
      sampling,
    ]);
    expect(answers).toHaveLength(600);
    expect(failuresOf(answers), firstFailures(answers)).toEqual({});
    const distinct = Object.fromEntries([...serials].map(([id, set]) => [id, set.size]));
    await annotate(`distinct certificates seen per instance: ${JSON.stringify(distinct)}`);
    for (const [id, count] of Object.entries(distinct)) {
      expect(count, `certificates seen on ${id}: ${JSON.stringify(distinct)}`).toBeGreaterThanOrEqual(3);
    }
  }, 45_000);
});

describe('the mesh lab with certificates that live an hour, through a CA rotation', () => {
  // An hour: no renewal falls due on its own, so every certificate issued during the test is the rotation's.
  const lab = meshLab({ certificateTtlMs: 3_600_000 });

  it('rotates the CA under steady load without a failed request, and drops the old root once every certificate is re-issued', async ({
    annotate,
  }) => {
    const sys = lab.sys();
    const processes = async () =>
      Object.fromEntries(
        (await sys.status()).services.flatMap((s) => s.instances).map((i) => [i.id, [i.pid, i.restarts]]),
      );
    const processesBefore = await processes();
    // The gateway serves clients in plaintext and has no TLS port: its certificate is read below
    // through the bundle, which keeps the old root while any live instance holds a certificate of it.
    const instances = (await sys.status()).services
      .filter((s) => s.kind === 'service')
      .flatMap((s) => s.instances);
    expect(instances).toHaveLength(5);
    const [oldRoot, ...others] = await trustBundleOf(sys);
    expect(others, 'roots trusted besides the first before the rotation').toEqual([]);
    for (const instance of instances) {
      const serving = await servingCertificate(instance.port);
      expect(issuedBy(serving, oldRoot!), `${instance.id} serves a certificate of the first root`).toBe(true);
    }

    const loadMs = 15_000;
    const load = openLoop(sys.gatewayUrl, { ratePerS: 40, durationMs: loadMs });
    await sleep(3_000);
    const rotateAt = Date.now();
    const { code, stdout, stderr } = await sys.cliRun(['ca', 'rotate', '--json']);
    const answeredAt = Date.now();
    expect(code, `flotilla ca rotate --json: ${stderr}`).toBe(0);
    const rotation = JSON.parse(stdout) as CaRotation;
    expect(rotation.trustBundleSize, 'roots trusted right after the rotation').toBe(2);
    expect(rotation.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(rotation.fingerprint).not.toBe(oldRoot!.fingerprint256);

    // The table is republished as the rotation starts: from then on its last root is the new one.
    const bundleAfter = await trustBundleOf(sys);
    const [newRoot] = bundleAfter.filter((r) => r.fingerprint256 === rotation.fingerprint);
    expect(newRoot, 'the new root in the routing table').toBeDefined();

    let reissuedAt = 0;
    await waitFor(
      'every instance to serve a certificate of the new root',
      async () => {
        const serving = await Promise.all(instances.map((i) => servingCertificate(i.port)));
        reissuedAt = Date.now();
        return serving.every((certificate) => issuedBy(certificate, newRoot!));
      },
      10_000,
    );
    let bundle: X509Certificate[] = [];
    await waitFor(
      'the trust bundle to hold one root again',
      async () => {
        bundle = await trustBundleOf(sys);
        return bundle.length === 1;
      },
      10_000,
    );
    const droppedAt = Date.now();
    expect(bundle[0]!.fingerprint256, 'the root left in the bundle').toBe(rotation.fingerprint);

    const answers = await load;
    await annotate(
      [
        `flotilla ca rotate answered in ${answeredAt - rotateAt} ms`,
        `the table read just after it trusted ${bundleAfter.length} root(s)`,
        `every instance served a certificate of the new root ${reissuedAt - answeredAt} ms after the answer`,
        `the bundle held one root again ${droppedAt - answeredAt} ms after it`,
        `${startedWithin(answers, droppedAt, Date.now()).length} requests after the old root was dropped`,
      ].join('; '),
    );
    expect(answers).toHaveLength((40 * loadMs) / 1000);
    expect(failuresOf(answers), firstFailures(answers)).toEqual({});
    // The old root left well before the load ended, so requests went on after it without it.
    expect(startedWithin(answers, droppedAt, Date.now()).length).toBeGreaterThanOrEqual(100);
    expect(await processes(), 'pid and restarts of every instance: renewed in place').toEqual(
      processesBefore,
    );
  }, 45_000);
});
