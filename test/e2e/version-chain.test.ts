import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSystem, startSystem, stopAsCtrlC, tempDir, waitFor } from './support.ts';
import {
  binomialBounds,
  type ChainAnswer,
  chainOf,
  sendMany,
  tally,
  type VersionChainOverrides,
  versionChainSpec,
} from './version-chain.ts';

const REQUESTS = 2_000;
const CONCURRENCY = 20;
const PINNED_REQUESTS = 200;
const V2 = { 'x-flotilla-version': 'v2' };
/** a v2 when b has no v2: b's stable version answers, and c is back on v2. */
const FELL_BACK_AT_B = 'Microservice A v2 -> Microservice B v1 -> Microservice C v2';

/**
 * Starts the example with `flotilla up` for the tests of one describe, on free ports with its
 * state in a temp directory, and stops it afterwards as Ctrl-C would, leaving no process behind.
 */
function example(overrides: VersionChainOverrides): () => RunningSystem {
  const name = `vc-${randomBytes(3).toString('hex')}`;
  const dir = tempDir();
  let sys: RunningSystem | undefined;
  beforeAll(async () => {
    sys = await startSystem(versionChainSpec(name, overrides), dir);
  }, 90_000);
  afterAll(async () => {
    const { left, exitCode } = await stopAsCtrlC(sys ? [sys.cli] : [], name, dir);
    expect(left, 'processes still running after flotilla up exited').toEqual([]);
    if (sys) expect(exitCode, 'exit code of flotilla up after Ctrl-C').toBe(0);
  }, 30_000);
  return () => sys!;
}

/** What answered other than 200, by status and error; empty when the platform carried every request. */
function failuresOf(answers: readonly ChainAnswer[]): Record<string, number> {
  return tally(answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${errorOf(a.body)}`));
}

/** An error body's code and message (without its per-request id), or the start of any other body. */
function errorOf(body: string): string {
  try {
    const { error } = JSON.parse(body) as { error?: { code?: string; message?: string } };
    if (error?.code) return `${error.code}: ${error.message}`;
  } catch {
    // not JSON: a connection error or a plain-text body
  }
  return body.slice(0, 200);
}

/** Each distinct answer with the versions that fell back, as `<body> | fallback: <hops>`. */
function answersWithFallback(answers: readonly ChainAnswer[]): Record<string, number> {
  return tally(answers.map((a) => `${a.body} | fallback: ${hops(a.fallback)}`));
}

/** The hops an `x-flotilla-version-fallback` header names, sorted; `none` without the header. */
function hops(header: string | undefined): string {
  if (header === undefined) return 'none';
  return header
    .split(',')
    .map((hop) => hop.trim())
    .sort()
    .join(',');
}

/** Expects `count` of `n` requests to be within 4 sigmas of an even split. */
function expectHalf(count: number, n: number): void {
  const { min, max } = binomialBounds(n, 0.5, 4);
  expect(count, `requests of ${n} on v1`).toBeGreaterThanOrEqual(min);
  expect(count, `requests of ${n} on v1`).toBeLessThanOrEqual(max);
}

/** Sends REQUESTS and expects only the two pure chains, about half each. */
async function expectPureChains(sys: RunningSystem): Promise<void> {
  const answers = await sendMany(sys.gatewayUrl, { total: REQUESTS, concurrency: CONCURRENCY });
  expect(answers).toHaveLength(REQUESTS);
  expect(failuresOf(answers)).toEqual({});
  const counts = tally(answers.map((a) => a.body));
  const crossed = Object.entries(counts).filter(([body]) => body !== chainOf('v1') && body !== chainOf('v2'));
  expect(Object.fromEntries(crossed), 'answers that crossed versions').toEqual({});
  expectHalf(counts[chainOf('v1')] ?? 0, REQUESTS);
}

/** Sends PINNED_REQUESTS with `x-flotilla-version: v2` and expects the v2 chain from each. */
async function expectPinnedToV2(sys: RunningSystem): Promise<void> {
  const answers = await sendMany(sys.gatewayUrl, {
    total: PINNED_REQUESTS,
    concurrency: CONCURRENCY,
    headers: V2,
  });
  expect(failuresOf(answers)).toEqual({});
  expect(tally(answers.map((a) => a.body))).toEqual({ [chainOf('v2')]: PINNED_REQUESTS });
}

describe('binomialBounds', () => {
  it.each([
    { n: 2000, p: 0.5, sigmas: 4, min: 911, max: 1089 },
    { n: 100, p: 0.5, sigmas: 2, min: 40, max: 60 },
    { n: 10, p: 0.5, sigmas: 4, min: 0, max: 10 },
    { n: 1000, p: 0.1, sigmas: 3, min: 72, max: 128 },
  ])('lets $min to $max of $n draws at p=$p through at $sigmas sigmas', ({ n, p, sigmas, min, max }) => {
    expect(binomialBounds(n, p, sigmas)).toEqual({ min, max });
  });
});

describe('tally', () => {
  it('counts each distinct value, most frequent first', () => {
    expect(Object.entries(tally(['x', 'y', 'y', 'z', 'y', 'z']))).toEqual([
      ['y', 3],
      ['z', 2],
      ['x', 1],
    ]);
  });
});

describe('the version chain as shipped (mesh.versionAffinity)', () => {
  const sys = example({ routing: 'version-affinity' });

  it('answers GET / in plain text', async () => {
    const [answer] = await sendMany(sys().gatewayUrl, { total: 1, concurrency: 1 });
    expect(answer).toMatchObject({ status: 200, contentType: 'text/plain; charset=utf-8' });
    expect(answer!.body).toMatch(/^Microservice A v[12] -> Microservice B v[12] -> Microservice C v[12]$/);
  });

  it(`keeps each of ${REQUESTS} requests on one version end to end, about half on each`, async () => {
    await expectPureChains(sys());
  }, 60_000);

  it('sends every request with x-flotilla-version: v2 down the v2 chain', async () => {
    await expectPinnedToV2(sys());
  });

  it('answers 502 with the error body, not a stack trace, while the end of the chain is down', async () => {
    expect(await sys().cliRun(['scale', 'c', '0'])).toMatchObject({ code: 0 });
    let answer: ChainAnswer | undefined;
    await waitFor('a request to fail while c is down', async () => {
      [answer] = await sendMany(sys().gatewayUrl, { total: 1, concurrency: 1 });
      return answer?.status !== 200;
    });
    expect(answer).toMatchObject({ status: 502, contentType: 'application/json; charset=utf-8' });
    expect(JSON.parse(answer!.body)).toEqual({
      error: { code: 'B_FAILED', message: 'Service b answered 502.', details: { status: 502 } },
    });
  });
});

describe("the version chain with README.md's sourceLabels rules", () => {
  const sys = example({ routing: 'source-labels' });

  it(`keeps each of ${REQUESTS} requests on one version end to end, about half on each`, async () => {
    await expectPureChains(sys());
  }, 60_000);

  it('sends every request with x-flotilla-version: v2 down the v2 chain', async () => {
    await expectPinnedToV2(sys());
  });
});

describe('the version chain with version affinity and b at v1 only', () => {
  const sys = example({ routing: 'version-affinity', versions: { b: ['v1'] } });

  it('takes a request pinned to v2 through b v1 and back to c v2, naming b=v1 in x-flotilla-version-fallback', async () => {
    const answers = await sendMany(sys().gatewayUrl, {
      total: PINNED_REQUESTS,
      concurrency: CONCURRENCY,
      headers: V2,
    });
    expect(failuresOf(answers)).toEqual({});
    expect(answersWithFallback(answers)).toEqual({ [`${FELL_BACK_AT_B} | fallback: b=v1`]: PINNED_REQUESTS });
  });

  it(`keeps v1 on v1 and takes v2 through b v1 over ${REQUESTS} requests, about half each`, async () => {
    const answers = await sendMany(sys().gatewayUrl, { total: REQUESTS, concurrency: CONCURRENCY });
    expect(answers).toHaveLength(REQUESTS);
    expect(failuresOf(answers)).toEqual({});
    const counts = answersWithFallback(answers);
    const pureV1 = `${chainOf('v1')} | fallback: none`;
    const viaB1 = `${FELL_BACK_AT_B} | fallback: b=v1`;
    const other = Object.entries(counts).filter(([key]) => key !== pureV1 && key !== viaB1);
    expect(Object.fromEntries(other), 'answers off the expected paths').toEqual({});
    expectHalf(counts[pureV1] ?? 0, REQUESTS);
  }, 60_000);
});
