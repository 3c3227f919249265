import { createMeshClient } from '@flotilla/mesh';
import { afterEach, describe, expect, it } from 'vitest';
import { createFetchJson } from './fetch-json.ts';
import { startUpstream, type TestUpstream, tableOf } from './test-harness.ts';

const jwks = { keys: [{ kid: 'k1' }] };
let keys: TestUpstream | undefined;
afterEach(() => keys?.close());

async function startKeyServer(): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    req.resume();
    const found = req.url === '/.well-known/jwks.json';
    res.writeHead(found ? 200 : 404, { 'content-type': 'application/json' });
    res.end(found ? JSON.stringify(jwks) : '{}');
  });
}

describe('fetchJson for plugins', () => {
  it('fetches http://<service>/<path> through the mesh', async () => {
    keys = await startKeyServer();
    const mesh = createMeshClient({
      source: { workload: 'gateway', version: 'v1' },
      table: tableOf(1, {}, { users: [keys.port] }),
    });
    try {
      const fetchJson = createFetchJson(mesh);
      expect(await fetchJson('http://users/.well-known/jwks.json', 1_000)).toEqual(jwks);
      await expect(fetchJson('http://users/missing', 1_000)).rejects.toThrow(/404/);
    } finally {
      await mesh.close();
    }
  });

  it('fetches any other URL directly', async () => {
    keys = await startKeyServer();
    const mesh = createMeshClient({
      source: { workload: 'gateway', version: 'v1' },
      table: tableOf(1, {}, {}),
    });
    try {
      const fetchJson = createFetchJson(mesh);
      expect(await fetchJson(`http://127.0.0.1:${keys.port}/.well-known/jwks.json`, 1_000)).toEqual(jwks);
      expect(keys.seen).toHaveLength(1);
    } finally {
      await mesh.close();
    }
  });
});
