import { describe, expect, it } from 'vitest';
import { DEFAULTS } from './defaults.ts';
import { SpecError } from './errors.ts';
import { parseSpec, type SystemSpec } from './load.ts';
import { DEFAULT_RESILIENCE, resolveResilience } from './mesh-schema.ts';

/**
 * A shop whose `orders` service has two versions and whose `checkout` calls it; `orders` is the
 * YAML of the orders service's mesh fields, `mesh` that of the system-wide section.
 */
function shop(orders: string, mesh = ''): string {
  return `
name: shop
${mesh}
services:
  checkout:
    path: services/checkout
  orders:
    path: services/orders
    versions: { v1: { weight: 80 }, v2: { weight: 20 } }
${orders
  .trim()
  .split('\n')
  .map((line) => `    ${line}`)
  .join('\n')}
`;
}

function parse(text: string): SystemSpec {
  return parseSpec(text, { dir: '/srv' });
}

function issuesOf(text: string): string[] {
  try {
    parse(text);
  } catch (error) {
    if (error instanceof SpecError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  throw new Error('expected the spec to be invalid');
}

describe('the mesh section of a spec', () => {
  it('fills every default when a spec says nothing of the mesh', () => {
    const spec = parse(shop(''));
    expect(spec.mesh).toEqual({
      mtls: 'permissive',
      versionAffinity: false,
      certificates: { ttlMs: DEFAULTS.mesh.certificates.ttlMs },
      resilience: {
        timeoutMs: 15_000,
        retries: {
          attempts: 2,
          retryOn: ['connect-failure', 'reset', 'unavailable'],
          backoffBaseMs: 25,
          backoffMaxMs: 250,
        },
        retryBudget: { percent: 20, minRetriesPerSecond: 10 },
        circuitBreaker: { maxRequests: 1024, maxPendingRequests: 1024, maxConnectionsPerEndpoint: 128 },
        outlierDetection: { consecutiveErrors: 5, baseEjectionMs: 30_000, maxEjectionPercent: 50 },
      },
    });
    expect(spec.mesh.resilience).toEqual(DEFAULT_RESILIENCE);
    const orders = spec.services.orders!;
    expect(orders.traffic).toEqual([]);
    expect(orders.resilience).toBeUndefined();
    expect(orders.authorization).toBeUndefined();
  });

  it('fills the defaults of a partly written section around what it sets', () => {
    const spec = parse(shop('', 'mesh: { mtls: strict, resilience: { retries: { attempts: 4 } } }'));
    expect(spec.mesh.mtls).toBe('strict');
    expect(spec.mesh.resilience.retries).toEqual({ ...DEFAULT_RESILIENCE.retries, attempts: 4 });
    expect(spec.mesh.resilience.timeoutMs).toBe(15_000);
  });

  it("merges a service's override over the system-wide resilience, field by field", () => {
    const spec = parse(
      shop(
        'resilience: { timeoutMs: 500, retries: { attempts: 0 }, circuitBreaker: { maxRequests: 8 } }',
        'mesh: { resilience: { retries: { backoffBaseMs: 10 } } }',
      ),
    );
    const override = spec.services.orders!.resilience;
    // The override holds only what the service wrote; the rest comes from mesh.resilience.
    expect(override).toEqual({
      timeoutMs: 500,
      retries: { attempts: 0 },
      circuitBreaker: { maxRequests: 8 },
    });
    expect(resolveResilience(spec.mesh.resilience, override)).toEqual({
      timeoutMs: 500,
      retries: { ...DEFAULT_RESILIENCE.retries, attempts: 0, backoffBaseMs: 10 },
      retryBudget: DEFAULT_RESILIENCE.retryBudget,
      circuitBreaker: { ...DEFAULT_RESILIENCE.circuitBreaker, maxRequests: 8 },
      outlierDetection: DEFAULT_RESILIENCE.outlierDetection,
    });
    expect(resolveResilience(spec.mesh.resilience, spec.services.checkout!.resilience)).toBe(
      spec.mesh.resilience,
    );
  });

  it('fills the defaults of a traffic rule: weight 100, mirror percent 100', () => {
    const spec = parse(
      shop(`
traffic:
  - name: testers
    match: { headers: { x-beta: { exact: "yes" } }, path: { prefix: /orders }, methods: [GET], sourceLabels: { app: gateway } }
    route: [{ subset: v2 }]
    mirror: { subset: v1 }
    fault: { delay: { fixedDelayMs: 100, percent: 50 } }
    timeoutMs: 300
    retries: { attempts: 1 }
`),
    );
    expect(spec.services.orders!.traffic).toEqual([
      {
        name: 'testers',
        match: {
          headers: { 'x-beta': { exact: 'yes' } },
          path: { prefix: '/orders' },
          methods: ['GET'],
          sourceLabels: { app: 'gateway' },
        },
        route: [{ subset: 'v2', weight: 100 }],
        mirror: { subset: 'v1', percent: 100 },
        fault: { delay: { fixedDelayMs: 100, percent: 50 } },
        timeoutMs: 300,
        retries: { attempts: 1 },
      },
    ]);
  });

  it('accepts authorization from services and the gateway', () => {
    const spec = parse(
      shop('authorization: [{ from: [checkout, gateway], methods: [GET], paths: [/orders/*] }]'),
    );
    expect(spec.services.orders!.authorization).toEqual([
      { from: ['checkout', 'gateway'], methods: ['GET'], paths: ['/orders/*'] },
    ]);
  });

  it.each<[string, string, string, string[]]>([
    [
      'an unknown subset in a route, with a did-you-mean',
      'traffic: [{ route: [{ subset: v1 }, { subset: v3 }] }]',
      '',
      ['services.orders.traffic[0].route[1].subset: "v3" is not a version of orders, did you mean "v1"?'],
    ],
    [
      'an unknown subset in a route, listing the versions when nothing is close',
      'traffic: [{ route: [{ subset: canary }] }]',
      '',
      ['services.orders.traffic[0].route[0].subset: "canary" is not a version of orders (versions: v1, v2)'],
    ],
    [
      'an unknown subset in a mirror, with a did-you-mean',
      'traffic: [{ mirror: { subset: v4 } }]',
      '',
      ['services.orders.traffic[0].mirror.subset: "v4" is not a version of orders, did you mean "v1"?'],
    ],
    [
      'a route whose weights are all zero',
      'traffic: [{ route: [{ subset: v1, weight: 0 }, { subset: v2, weight: 0 }] }]',
      '',
      ['services.orders.traffic[0].route: at least one destination needs a weight above 0'],
    ],
    [
      'an unknown workload in authorization.from, with a did-you-mean',
      'authorization: [{ from: [checkot] }]',
      '',
      ['services.orders.authorization[0].from[0]: unknown workload "checkot", did you mean "checkout"?'],
    ],
    [
      'an unknown workload in authorization.from, listing the workloads when nothing is close',
      'authorization: [{ from: [gateway, payments] }]',
      '',
      [
        'services.orders.authorization[0].from[1]: unknown workload "payments" (workloads: checkout, orders, gateway)',
      ],
    ],
    [
      'an authorization policy under mtls: disable, where no caller has an identity',
      'authorization: [{ from: [gateway] }]',
      'mesh: { mtls: disable }',
      [
        'services.orders.authorization: callers are known by their certificates, and mesh.mtls is disable: every call would be refused; set mesh.mtls to strict or permissive',
      ],
    ],
    [
      'backoffBaseMs over backoffMaxMs in the system-wide retries',
      '',
      'mesh: { resilience: { retries: { backoffBaseMs: 500, backoffMaxMs: 100 } } }',
      ['mesh.resilience.retries.backoffMaxMs: must be >= backoffBaseMs (500)'],
    ],
    [
      'backoffBaseMs over the default backoffMaxMs in the system-wide retries',
      '',
      'mesh: { resilience: { retries: { backoffBaseMs: 500 } } }',
      ['mesh.resilience.retries.backoffMaxMs: must be >= backoffBaseMs (500)'],
    ],
    [
      "backoffBaseMs over backoffMaxMs in a service's override",
      'resilience: { retries: { backoffBaseMs: 500, backoffMaxMs: 100 } }',
      '',
      ['services.orders.resilience.retries.backoffMaxMs: must be >= backoffBaseMs (500)'],
    ],
    [
      "a service's backoffBaseMs over the system-wide backoffMaxMs it keeps",
      'resilience: { retries: { backoffBaseMs: 500 } }',
      '',
      [
        'services.orders.resilience.retries.backoffBaseMs: must be <= backoffMaxMs (250, from mesh.resilience.retries)',
      ],
    ],
    [
      "a service's backoffMaxMs under the system-wide backoffBaseMs it keeps",
      'resilience: { retries: { backoffMaxMs: 20 } }',
      'mesh: { resilience: { retries: { backoffBaseMs: 50 } } }',
      [
        'services.orders.resilience.retries.backoffMaxMs: must be >= backoffBaseMs (50, from mesh.resilience.retries)',
      ],
    ],
    [
      "a rule's backoffBaseMs over the backoffMaxMs of its service's override",
      'resilience: { retries: { backoffMaxMs: 100 } }\ntraffic: [{ retries: { backoffBaseMs: 200 } }]',
      '',
      [
        'services.orders.traffic[0].retries.backoffBaseMs: must be <= backoffMaxMs (100, from services.orders.resilience.retries)',
      ],
    ],
    [
      "backoffBaseMs over backoffMaxMs in a rule's retries",
      'traffic: [{ retries: { backoffBaseMs: 500, backoffMaxMs: 100 } }]',
      '',
      ['services.orders.traffic[0].retries.backoffMaxMs: must be >= backoffBaseMs (500)'],
    ],
    [
      'an invalid regex in a header match',
      'traffic: [{ match: { headers: { x-user: { regex: "(unclosed" } } } }]',
      '',
      ['services.orders.traffic[0].match.headers.x-user.regex: expected a valid regular expression'],
    ],
    [
      'an invalid regex in a path match',
      'traffic: [{ match: { path: { regex: "[a-" } } }]',
      '',
      ['services.orders.traffic[0].match.path.regex: expected a valid regular expression'],
    ],
    [
      'a string match with two of exact, prefix and regex',
      'traffic: [{ match: { path: { exact: /a, prefix: /b } } }]',
      '',
      ['services.orders.traffic[0].match.path: expected one of { exact }, { prefix } or { regex }'],
    ],
    [
      'a string match with none of exact, prefix and regex',
      'traffic: [{ match: { headers: { x-a: {} } } }]',
      '',
      ['services.orders.traffic[0].match.headers.x-a: expected one of { exact }, { prefix } or { regex }'],
    ],
    [
      'a fault percent of 101',
      'traffic: [{ fault: { abort: { httpStatus: 503, percent: 101 } } }]',
      '',
      ['services.orders.traffic[0].fault.abort.percent: expected a percentage <= 100'],
    ],
    [
      'a mirror percent below 0',
      'traffic: [{ mirror: { subset: v2, percent: -1 } }]',
      '',
      ['services.orders.traffic[0].mirror.percent: expected a percentage >= 0'],
    ],
    [
      'a retry budget percent of 101',
      '',
      'mesh: { resilience: { retryBudget: { percent: 101 } } }',
      ['mesh.resilience.retryBudget.percent: expected a percentage <= 100'],
    ],
    [
      'a fault with neither delay nor abort',
      'traffic: [{ fault: {} }]',
      '',
      ['services.orders.traffic[0].fault: expected delay, abort or both'],
    ],
    [
      "a header name that is not lowercase, saying so rather than zod's 'Invalid key in record'",
      'traffic: [{ match: { headers: { X-Beta: { exact: "yes" } } } }]',
      '',
      ['services.orders.traffic[0].match.headers.X-Beta: expected a lowercase header name'],
    ],
    [
      'an unknown mtls mode',
      '',
      'mesh: { mtls: on }',
      ['mesh.mtls: expected one of "strict", "permissive", "disable"'],
    ],
  ])('refuses %s', (_, orders, mesh, expected) => {
    expect(issuesOf(shop(orders, mesh))).toEqual(expected);
  });

  it('reports an unordered backoff once, where it is written, not at every override that keeps it', () => {
    const issues = issuesOf(
      shop(
        'resilience: { retries: { attempts: 1 } }\ntraffic: [{ retries: { attempts: 0 } }]',
        'mesh: { resilience: { retries: { backoffBaseMs: 500, backoffMaxMs: 100 } } }',
      ),
    );
    expect(issues).toEqual(['mesh.resilience.retries.backoffMaxMs: must be >= backoffBaseMs (500)']);
  });

  it('reports every mesh problem of a spec at once', () => {
    const issues = issuesOf(
      shop(`
traffic:
  - route: [{ subset: v3 }]
    mirror: { subset: v5 }
authorization: [{ from: [checkot] }]
`),
    );
    expect(issues).toHaveLength(3);
  });
});
