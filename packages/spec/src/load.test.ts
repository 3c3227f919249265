import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SpecError } from './errors.ts';
import { loadSpec, parseSpec } from './load.ts';

function issuesOf(text: string): string[] {
  try {
    parseSpec(text, { dir: '/srv' });
  } catch (error) {
    if (error instanceof SpecError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  throw new Error('expected the spec to be invalid');
}

const minimal = `
name: shop
services:
  orders:
    path: services/orders
`;

describe('parseSpec', () => {
  it('fills every default of a minimal spec', () => {
    const spec = parseSpec(minimal, { dir: '/srv' });
    expect(spec.controlPlane).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(spec.gateway.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(spec.stateDir).toBe('/srv/.flotilla');
    const orders = spec.services.orders!;
    expect(orders.dir).toBe('/srv/services/orders');
    expect(orders.versions).toEqual({
      v1: {
        weight: 100,
        replicas: 1,
        entry: '/srv/services/orders/src/main.ts',
        labels: { version: 'v1' },
        env: {},
      },
    });
    expect(orders.probes.readiness).toMatchObject({ path: '/readyz', periodMs: 1000, failureThreshold: 1 });
    expect(orders.probes.liveness).toMatchObject({ path: '/healthz', failureThreshold: 3 });
    expect(orders.database).toBe(false);
  });

  it('returns a frozen spec that nothing can write', () => {
    const spec = parseSpec(minimal, { dir: '/srv' });
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.services.orders!.versions.v1)).toBe(true);
  });

  it('splits traffic evenly when no version sets a weight, and per-version replicas override', () => {
    const spec = parseSpec(
      `
name: shop
services:
  a:
    path: a
    replicas: 2
    versions: { v1: {}, v2: { replicas: 1, entry: src/v2.ts }, v3: {} }
`,
      { dir: '/srv' },
    );
    const versions = spec.services.a!.versions;
    expect(Object.values(versions).map((v) => v.weight)).toEqual([34, 33, 33]);
    expect(versions.v1!.replicas).toBe(2);
    expect(versions.v2!.replicas).toBe(1);
    expect(versions.v2!.entry).toBe('/srv/a/src/v2.ts');
  });

  it('names the path of a replicas count below zero', () => {
    expect(issuesOf(`${minimal}    replicas: -1\n`)).toEqual([
      'services.orders.replicas: expected a number >= 0',
    ]);
  });

  it('rejects an unknown key with a did-you-mean hint', () => {
    expect(issuesOf(`${minimal}    replica: 2\n`)).toEqual([
      'services.orders: unknown key "replica", did you mean "replicas"?',
    ]);
  });

  it('lists the accepted keys when an unknown key is nothing like them', () => {
    const [issue] = issuesOf(`${minimal}    zzzzzzzz: 1\n`);
    expect(issue).toMatch(
      /^services\.orders: unknown key "zzzzzzzz" \(expected one of: path, entry, replicas/,
    );
  });

  it('reports every problem at once, not just the first', () => {
    const issues = issuesOf(`
name: Shop
services:
  orders:
    path: o
    replicas: two
    probes: { readiness: { periodMs: 10 } }
`);
    expect(issues).toEqual([
      'name: expected lowercase letters, digits and "-", starting with a letter',
      'services.orders.replicas: expected a number >= 0',
      'services.orders.probes.readiness.periodMs: expected >= 50',
    ]);
  });

  it('requires at least one service', () => {
    expect(issuesOf('name: shop\nservices: {}\n')).toEqual(['services: expected at least one service']);
  });

  it('says a required key is missing', () => {
    expect(issuesOf('services:\n  a: { path: a }\n')).toEqual(['name: required (expected string)']);
  });

  it('refuses a route to an unknown service and suggests the closest one', () => {
    const issues = issuesOf(
      `${minimal}gateway:\n  routes:\n    - match: { pathPrefix: /api }\n      service: ordrs\n`,
    );
    expect(issues).toEqual(['gateway.routes[0].service: unknown service "ordrs", did you mean "orders"?']);
  });

  it('refuses weights that do not add up to 100, or that are set on some versions only', () => {
    expect(
      issuesOf(
        'name: s\nservices:\n  a:\n    path: a\n    versions: { v1: { weight: 50 }, v2: { weight: 40 } }\n',
      ),
    ).toEqual(['services.a.versions: weights must add up to 100 (they add up to 90)']);
    expect(
      issuesOf('name: s\nservices:\n  a:\n    path: a\n    versions: { v1: { weight: 50 }, v2: {} }\n'),
    ).toEqual(['services.a.versions: set a weight on every version, or on none to split evenly']);
  });

  it('refuses a probe timeout longer than its period', () => {
    expect(issuesOf(`${minimal}    probes: { liveness: { periodMs: 500, timeoutMs: 900 } }\n`)).toEqual([
      'services.orders.probes.liveness.timeoutMs: must be <= periodMs (500)',
    ]);
  });

  it('reserves the names the platform uses itself', () => {
    expect(issuesOf('name: s\nservices:\n  gateway: { path: g }\n')).toEqual([
      'services.gateway: "gateway" is reserved by Flotilla; pick another name',
    ]);
    expect(issuesOf('name: s\nservices:\n  bus: { path: b }\n')).toEqual([
      'services.bus: "bus" is reserved by Flotilla; pick another name',
    ]);
  });

  it('keeps the admin API on loopback', () => {
    expect(issuesOf(`${minimal}controlPlane: { host: 0.0.0.0 }\n`)).toEqual([
      'controlPlane.host: must be a loopback address (127.0.0.1, ::1)',
    ]);
  });

  it('refuses a JWT plugin with neither or both key sources', () => {
    const issues = issuesOf(`${minimal}gateway:\n  plugins:\n    jwt: { issuer: i, audience: a }\n`);
    expect(issues).toEqual(['gateway.plugins.jwt: set exactly one of jwksUrl or keys']);
  });

  it('lets a route turn a plugin off with false but not with true', () => {
    const ok = parseSpec(
      `${minimal}gateway:\n  routes:\n    - match: { pathPrefix: / }\n      service: orders\n      plugins: { rateLimit: false }\n`,
      { dir: '/srv' },
    );
    expect(ok.gateway.routes[0]!.plugins.rateLimit).toBe(false);
    const issues = issuesOf(
      `${minimal}gateway:\n  routes:\n    - match: { pathPrefix: / }\n      service: orders\n      plugins: { rateLimit: true }\n`,
    );
    expect(issues).toEqual(['gateway.routes[0].plugins.rateLimit: expected false or a plugin configuration']);
  });

  it('defaults the bus to PostgreSQL and the mail to the built-in sink', () => {
    const spec = parseSpec(minimal, { dir: '/srv' });
    expect(spec.infrastructure.bus).toEqual({ kind: 'postgres', url: undefined });
    expect(spec.infrastructure.smtp).toEqual({ sinkPort: 0 });
    expect(spec.services.orders!.events).toBeUndefined();
    expect(spec.services.orders!.secrets).toEqual([]);
  });

  it('fills the RabbitMQ URL of the machine when the bus is rabbitmq without one', () => {
    const spec = parseSpec(`${minimal}infrastructure: { bus: { kind: rabbitmq } }\n`, { dir: '/srv' });
    expect(spec.infrastructure.bus).toEqual({ kind: 'rabbitmq', url: 'amqp://guest:guest@127.0.0.1:5672' });
  });

  it('refuses a URL on the postgres bus and a non-SMTP relay', () => {
    expect(
      issuesOf(`${minimal}infrastructure: { bus: { url: 'amqp://x' }, smtp: { url: 'http://mail' } }\n`),
    ).toEqual(['infrastructure.smtp.url: expected an smtp:// or smtps:// URL']);
    expect(issuesOf(`${minimal}infrastructure: { bus: { url: 'amqp://x' } }\n`)).toEqual([
      "infrastructure.bus.url: the postgres bus lives on the system's PostgreSQL; remove url, or set kind: rabbitmq",
    ]);
  });

  it('reads events and requires a database for the outbox and inbox', () => {
    const spec = parseSpec(
      `${minimal}    database: true\n    events: { publishes: [order.paid], subscribes: [user.registered] }\n`,
      { dir: '/srv' },
    );
    expect(spec.services.orders!.events).toEqual({
      publishes: ['order.paid'],
      subscribes: ['user.registered'],
    });
    expect(issuesOf(`${minimal}    events: { subscribes: [user.registered] }\n`)).toEqual([
      "services.orders.events: the outbox and inbox live in the service's database: set database: true",
    ]);
    expect(issuesOf(`${minimal}    database: true\n    events: { subscribes: [Paid] }\n`)).toEqual([
      'services.orders.events.subscribes[0]: expected dot-separated lowercase words, as order.paid',
    ]);
  });

  it('takes secrets by name or as generated ones, and refuses one listed twice', () => {
    const spec = parseSpec(`${minimal}    secrets: [API_KEY, { name: ADMIN_PASSWORD, generate: true }]\n`, {
      dir: '/srv',
    });
    expect(spec.services.orders!.secrets).toEqual([
      { name: 'API_KEY', generate: false },
      { name: 'ADMIN_PASSWORD', generate: true },
    ]);
    expect(issuesOf(`${minimal}    secrets: [API_KEY, { name: API_KEY }]\n`)).toEqual([
      'services.orders.secrets: API_KEY is listed twice',
    ]);
  });

  it('points at the line of a YAML syntax error', () => {
    const [issue] = issuesOf('name: shop\nservices:\n  a: [1, 2\n');
    expect(issue).toMatch(/^: YAML: .+ at line 4, column 1$/);
  });
});

describe('loadSpec', () => {
  it('says when the file does not exist', () => {
    expect(() => loadSpec('/nonexistent/flotilla.yaml')).toThrow(
      /file not found: \/nonexistent\/flotilla.yaml/,
    );
  });

  it('checks that each service directory and entry file exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-spec-'));
    mkdirSync(join(dir, 'a/src'), { recursive: true });
    writeFileSync(join(dir, 'a/src/main.ts'), '');
    mkdirSync(join(dir, 'b'));
    const file = join(dir, 'flotilla.yaml');
    writeFileSync(file, 'name: s\nservices:\n  a: { path: a }\n  b: { path: b }\n  c: { path: c }\n');
    try {
      loadSpec(file);
      expect.unreachable();
    } catch (error) {
      expect((error as SpecError).issues).toEqual([
        { path: 'services.b.entry', message: `file not found: ${join(dir, 'b/src/main.ts')}` },
        { path: 'services.c.path', message: `directory not found: ${join(dir, 'c')}` },
      ]);
    }
  });
});
