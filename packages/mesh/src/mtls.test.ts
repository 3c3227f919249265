import type { Endpoint, MtlsMode, RoutingTable } from '@flotilla/spec';
import { afterEach, describe, expect, it } from 'vitest';
import { createMeshClient } from './client.ts';
import { startUpstream, tableOf } from './test-support.ts';
import {
  createTestCa,
  type PeerReport,
  startWorkloadServer,
  type TestCa,
  testCertificate,
} from './tls/test-support.ts';
import { WorkloadTls } from './tls/tls-context.ts';
import type { MeshClient, MeshLogger, WorkloadCertificate } from './types.ts';

const QUIET: MeshLogger = { info() {}, warn() {} };
const SYSTEM = 'test';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A workload server of `service` holding a certificate of `named` (itself, or an impostor's name). */
async function workload(ca: TestCa, id: string, named: string) {
  const pair = await testCertificate(ca, { system: SYSTEM, service: named, version: 'v1' });
  const server = await startWorkloadServer(
    new WorkloadTls({ current: () => pair, trustBundle: () => [ca.root] }),
  );
  cleanups.push(() => server.close());
  const endpoint = (mtls: boolean): Endpoint => ({
    id,
    service: 'b',
    version: 'v1',
    host: '127.0.0.1',
    port: server.port,
    mtls,
  });
  return { server, endpoint };
}

async function callerOf(ca: TestCa, table: RoutingTable): Promise<MeshClient> {
  const pair = await testCertificate(ca, { system: SYSTEM, service: 'a', version: 'v1' });
  const certificate: WorkloadCertificate = { current: () => pair, onRenew: () => () => {} };
  const mesh = createMeshClient({ source: { workload: 'a', version: 'v1' }, log: QUIET, table, certificate });
  cleanups.push(() => mesh.close());
  return mesh;
}

function tableWith(mtls: MtlsMode, root: string, endpoints: Endpoint[]): RoutingTable {
  const table = tableOf(1, { b: { versions: { v1: 100 }, endpoints } });
  return { ...table, system: SYSTEM, mesh: { mtls, versionAffinity: false, trustBundle: [root] } };
}

describe('mutual TLS from the mesh client', () => {
  it('calls an endpoint that holds a certificate over mutual TLS, naming the caller, under permissive', async () => {
    const ca = await createTestCa('mesh');
    const b = await workload(ca, 'b-v1-1', 'b');
    const mesh = await callerOf(ca, tableWith('permissive', ca.root, [b.endpoint(true)]));
    const report = (await mesh.request({ service: 'b', path: '/' })).json<PeerReport>();
    expect(report).toEqual({ encrypted: true, peer: { system: SYSTEM, service: 'a', version: 'v1' } });
  });

  it('calls an endpoint without a certificate in plaintext under permissive (auto mTLS), and over TLS under strict', async () => {
    const ca = await createTestCa('mesh');
    const b = await workload(ca, 'b-v1-1', 'b');
    const permissive = await callerOf(ca, tableWith('permissive', ca.root, [b.endpoint(false)]));
    expect((await permissive.request({ service: 'b', path: '/' })).json<PeerReport>().encrypted).toBe(false);
    const strict = await callerOf(ca, tableWith('strict', ca.root, [b.endpoint(false)]));
    expect((await strict.request({ service: 'b', path: '/' })).json<PeerReport>().encrypted).toBe(true);
  });

  it('reaches a plaintext-only process under permissive, which strict refuses to downgrade to', async () => {
    const ca = await createTestCa('mesh');
    const plain = await startUpstream('b-v1-1');
    cleanups.push(() => plain.close());
    const endpoint = { ...plain.endpoint('b', 'v1'), mtls: false };
    const permissive = await callerOf(ca, tableWith('permissive', ca.root, [endpoint]));
    expect((await permissive.request({ service: 'b', path: '/' })).statusCode).toBe(200);
    const strict = await callerOf(ca, tableWith('strict', ca.root, [endpoint]));
    await expect(strict.request({ service: 'b', path: '/' })).rejects.toMatchObject({
      code: 'MESH_CONNECT_FAILED',
    });
  });

  it('never sends a call to a server whose certificate names another service, and goes on to one that is b', async () => {
    const ca = await createTestCa('mesh');
    const impostor = await workload(ca, 'b-v1-1', 'c');
    const b = await workload(ca, 'b-v1-2', 'b');
    const mesh = await callerOf(
      ca,
      tableWith('strict', ca.root, [impostor.endpoint(true), b.endpoint(true)]),
    );
    for (let i = 0; i < 20; i++) {
      const response = await mesh.request({ service: 'b', method: 'POST', path: '/', body: 'x' });
      expect(response.endpoint.id).toBe('b-v1-2');
    }
    expect(impostor.server.seen).toHaveLength(0);
  });

  it('refuses a server whose certificate comes from a CA outside the trust bundle', async () => {
    const [ca, stranger] = await Promise.all([createTestCa('mesh'), createTestCa('stranger')]);
    const foreign = await workload(stranger, 'b-v1-1', 'b');
    const mesh = await callerOf(ca, tableWith('strict', ca.root, [foreign.endpoint(true)]));
    await expect(mesh.request({ service: 'b', path: '/' })).rejects.toMatchObject({
      code: 'MESH_CONNECT_FAILED',
    });
    expect(foreign.server.seen).toHaveLength(0);
  });
});
