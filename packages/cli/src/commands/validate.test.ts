import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runFlotilla } from '../testing/run-flotilla.ts';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-validate-'));
  for (const service of ['orders', 'users']) {
    mkdirSync(join(dir, 'services', service, 'src'), { recursive: true });
    writeFileSync(join(dir, 'services', service, 'src', 'main.ts'), '');
  }
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeSpec(text: string, name = 'flotilla.yaml'): void {
  writeFileSync(join(dir, name), text);
}

const valid = `
name: shop
services:
  orders:
    path: services/orders
    replicas: 2
  users:
    path: services/users
gateway:
  routes:
    - match: { pathPrefix: /orders }
      service: orders
    - match: { pathPrefix: /users }
      service: users
`;

describe('flotilla validate', () => {
  it('prints one line counting services, instances and routes for a valid spec, exit 0', async () => {
    writeSpec(valid);
    const result = await runFlotilla(['validate'], { cwd: dir });
    expect(result).toEqual({
      code: 0,
      stdout: 'flotilla.yaml: system "shop" is valid: 2 services, 3 instances, 2 routes\n',
      stderr: '',
    });
  });

  it('reads the spec named by --file, relative to the current directory', async () => {
    mkdirSync(join(dir, 'conf'));
    writeSpec(valid.replaceAll('path: services/', 'path: ../services/'), 'conf/shop.yaml');
    const result = await runFlotilla(['validate', '-f', 'conf/shop.yaml'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('conf/shop.yaml: system "shop" is valid: 2 services, 3 instances, 2 routes\n');
  });

  it('names an unknown key with its path and a did-you-mean, on stderr, exit 1', async () => {
    writeSpec(valid.replace('replicas: 2', 'replica: 2'));
    const result = await runFlotilla(['validate'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'flotilla.yaml: 1 problem\nservices.orders: unknown key "replica", did you mean "replicas"?\n',
    );
  });

  it('rejects negative replicas, exit 1', async () => {
    writeSpec(valid.replace('replicas: 2', 'replicas: -1'));
    const result = await runFlotilla(['validate'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toContain('services.orders.replicas: expected a number >= 0');
  });

  it('rejects a route to an unknown service with the closest name, exit 1', async () => {
    writeSpec(valid.replace('service: orders', 'service: order'));
    const result = await runFlotilla(['validate'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toContain(
      'gateway.routes[0].service: unknown service "order", did you mean "orders"?',
    );
  });

  it('lists every problem of a spec, each on its own line', async () => {
    writeSpec(
      valid
        .replace('name: shop', 'name: Shop')
        .replace('replicas: 2', 'replicas: two')
        .replace('path: services/users', 'path: services/users\n    entri: main.ts'),
    );
    const result = await runFlotilla(['validate'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      [
        'flotilla.yaml: 3 problems',
        'name: expected lowercase letters, digits and "-", starting with a letter',
        'services.orders.replicas: expected a number >= 0',
        'services.users: unknown key "entri", did you mean "entry"?',
        '',
      ].join('\n'),
    );
  });

  it('reports a missing spec file as one problem, exit 1', async () => {
    const result = await runFlotilla(['validate', '--file', 'missing.yaml'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`missing.yaml: 1 problem\nfile not found: ${join(dir, 'missing.yaml')}\n`);
  });
});
