import type { StringMatch, TrafficMatch, TrafficRule } from '@flotilla/spec';
import { describe, expect, it } from 'vitest';
import type { MeshDispatchOptions } from '../types.ts';
import { compileRules, matchRule, type RequestFacts, type SourceFacts } from './compile-rules.ts';

const VERSIONS = ['v1', 'v2'];
const GATEWAY: SourceFacts = { app: 'gateway', version: 'v1' };

function request(overrides: Partial<RequestFacts> = {}): RequestFacts {
  return { method: 'GET', path: '/orders', headers: undefined, ...overrides };
}

/** Whether a single rule with `match` matches. */
function matches(match: TrafficMatch, facts: RequestFacts, source: SourceFacts = GATEWAY): boolean {
  return matchRule(compileRules([{ name: 'r', match }], VERSIONS), facts, source) !== undefined;
}

describe('compileRules', () => {
  it('keeps what a matched call needs as given, and drops destinations that are not versions', () => {
    const rule: TrafficRule = {
      name: 'canary',
      route: [
        { subset: 'v1', weight: 80 },
        { subset: 'v9', weight: 10 },
        { subset: 'v2', weight: 20 },
      ],
      mirror: { subset: 'v2', percent: 5 },
      fault: { abort: { httpStatus: 503, percent: 1 } },
      timeoutMs: 200,
      retries: { attempts: 0 },
    };
    const [compiled] = compileRules([rule], VERSIONS);
    expect(compiled).toMatchObject({
      name: 'canary',
      route: [
        { subset: 'v1', weight: 80 },
        { subset: 'v2', weight: 20 },
      ],
      mirror: rule.mirror,
      fault: rule.fault,
      timeoutMs: 200,
      retries: rule.retries,
    });
  });

  it('leaves the route undefined for a rule without one, so the service weights decide', () => {
    const [compiled] = compileRules([{ timeoutMs: 50 }], VERSIONS);
    expect(compiled!.route).toBeUndefined();
  });

  it('keeps an explicit route whose subsets are all unknown explicit and empty', () => {
    const [compiled] = compileRules([{ route: [{ subset: 'v9', weight: 100 }] }], VERSIONS);
    expect(compiled!.route).toEqual([]);
  });
});

describe('matchRule', () => {
  it('applies the first rule that matches, and a rule without match matches everything', () => {
    const compiled = compileRules(
      [
        { name: 'beta', match: { headers: { 'x-beta': { exact: 'yes' } } } },
        { name: 'rest' },
        { name: 'never reached' },
      ],
      VERSIONS,
    );
    expect(matchRule(compiled, request({ headers: { 'x-beta': 'yes' } }), GATEWAY)?.name).toBe('beta');
    expect(matchRule(compiled, request(), GATEWAY)?.name).toBe('rest');
  });

  it("takes a call's dispatch options as they are, without building facts per call", () => {
    const options: MeshDispatchOptions = {
      service: 'orders',
      method: 'GET',
      path: '/orders?page=2',
      headers: { 'x-beta': 'yes' },
    };
    const compiled = compileRules(
      [{ name: 'beta', match: { path: { exact: '/orders' }, headers: { 'x-beta': { exact: 'yes' } } } }],
      VERSIONS,
    );
    expect(matchRule(compiled, options, GATEWAY)?.name).toBe('beta');
  });

  it('gives undefined when no rule matches', () => {
    const compiled = compileRules([{ match: { methods: ['POST'] } }], VERSIONS);
    expect(matchRule(compiled, request(), GATEWAY)).toBeUndefined();
    expect(matchRule([], request(), GATEWAY)).toBeUndefined();
  });

  it('matches an empty match like no match at all', () => {
    expect(matches({}, request())).toBe(true);
  });

  const beta: TrafficMatch = { headers: { 'x-beta': { exact: 'yes' } } };
  it.each<[string, RequestFacts['headers'], boolean]>([
    ['a lowercase object key', { 'x-beta': 'yes' }, true],
    ['a mixed-case object key', { 'X-Beta': 'yes' }, true],
    ['an uppercase object key', { 'X-BETA': 'yes' }, true],
    ['a different value', { 'x-beta': 'no' }, false],
    ['a name that is only similar', { 'x-betb': 'yes' }, false],
    ['a longer name', { 'x-beta-2': 'yes' }, false],
    ['a multi-valued header where one value matches', { 'x-beta': ['no', 'yes'] }, true],
    ['a multi-valued header where none matches', { 'x-beta': ['no', 'maybe'] }, false],
    ['an undefined value', { 'x-beta': undefined }, false],
    ['an alternating array', ['accept', 'text/plain', 'x-beta', 'yes'], true],
    ['an alternating array with a mixed-case name', ['X-Beta', 'yes'], true],
    ['an alternating array where the value sits under another name', ['yes', 'x-beta'], false],
    ['an alternating array repeating the name', ['x-beta', 'no', 'X-BETA', 'yes'], true],
    ['an iterable of pairs', new Map([['X-Beta', 'yes']]), true],
    ['no headers', undefined, false],
    ['null headers', null, false],
    ['an empty object', {}, false],
  ])('matches a header condition against %s: %s', (_, headers, expected) => {
    expect(matches(beta, request({ headers }))).toBe(expected);
  });

  it('matches a numeric header value by its text', () => {
    expect(matches({ headers: { 'x-tries': { exact: '3' } } }, request({ headers: { 'x-tries': 3 } }))).toBe(
      true,
    );
  });

  it('does not match a header inherited from the prototype, which undici would not send', () => {
    const headers = Object.create({ 'x-beta': 'yes' }) as Record<string, string>;
    expect(matches(beta, request({ headers }))).toBe(false);
  });

  it('requires every header condition to hold', () => {
    const both: TrafficMatch = { headers: { 'x-a': { exact: '1' }, 'x-b': { prefix: 'ok' } } };
    expect(matches(both, request({ headers: { 'x-a': '1', 'x-b': 'okay' } }))).toBe(true);
    expect(matches(both, request({ headers: { 'x-a': '1' } }))).toBe(false);
  });

  it.each<[string, StringMatch, string, boolean]>([
    ['exact', { exact: '/orders' }, '/orders', true],
    ['exact', { exact: '/orders' }, '/orders?page=2', true],
    ['exact', { exact: '/orders' }, '/orders/1', false],
    ['exact', { exact: '/orders?page=2' }, '/orders?page=2', false],
    ['prefix', { prefix: '/orders/' }, '/orders/1?x=/', true],
    ['prefix', { prefix: '/orders/' }, '/orders?x=/orders/', false],
    ['regex', { regex: '/orders/[0-9]+' }, '/orders/12?expand=items', true],
    ['regex', { regex: '/orders/[0-9]+' }, '/orders/12/items', false],
    ['regex', { regex: '/orders/[0-9]+' }, '/v2/orders/12', false],
  ])('matches a path by %s %o against %s: %s', (_, path, value, expected) => {
    expect(matches({ path }, request({ path: value }))).toBe(expected);
  });

  it.each([
    ['v2', 'v2', true],
    ['v2', 'xv22', false],
    ['v2', 'v22', false],
    ['v2', 'xv2', false],
    ['v2|v3', 'v3', true],
    ['v2|v3', 'v2x', false],
    ['v2|v3', 'xv3', false],
    ['v[0-9]+', 'v10', true],
    ['.*beta.*', 'is-beta-user', true],
  ])('anchors regex %s to the whole value, as Envoy does: %s gives %s', (regex, value, expected) => {
    expect(
      matches({ headers: { 'x-version': { regex } } }, request({ headers: { 'x-version': value } })),
    ).toBe(expected);
  });

  it.each([
    ['GET', true],
    ['get', true],
    ['HEAD', true],
    ['POST', false],
    ['GETS', false],
  ])('matches the methods GET and HEAD against %s: %s', (method, expected) => {
    expect(matches({ methods: ['GET', 'HEAD'] }, request({ method }))).toBe(expected);
  });

  it.each<[string, SourceFacts, boolean]>([
    ['every given label equal', { app: 'checkout', version: 'v2' }, true],
    ['more labels than the rule names', { app: 'checkout', version: 'v2', track: 'canary' }, true],
    ['one label different', { app: 'checkout', version: 'v1' }, false],
    ['one label missing', { app: 'checkout' }, false],
    ['the same values under other names', { service: 'checkout', v: 'v2' }, false],
  ])('matches sourceLabels app=checkout, version=v2 with %s: %s', (_, source, expected) => {
    expect(matches({ sourceLabels: { app: 'checkout', version: 'v2' } }, request(), source)).toBe(expected);
  });

  it('requires every kind of condition to hold at once', () => {
    const match: TrafficMatch = {
      methods: ['POST'],
      path: { prefix: '/refunds' },
      headers: { 'x-beta': { exact: 'yes' } },
      sourceLabels: { app: 'gateway' },
    };
    const all = request({ method: 'POST', path: '/refunds/7', headers: { 'X-Beta': 'yes' } });
    expect(matches(match, all)).toBe(true);
    expect(matches(match, { ...all, method: 'GET' })).toBe(false);
    expect(matches(match, { ...all, path: '/orders' })).toBe(false);
    expect(matches(match, { ...all, headers: {} })).toBe(false);
    expect(matches(match, all, { app: 'checkout' })).toBe(false);
  });
});
