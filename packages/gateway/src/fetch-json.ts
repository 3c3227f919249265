import type { MeshClient } from '@flotilla/mesh';
import { request } from 'undici';

/**
 * Plugins' way to fetch JSON (a JWKS, say): `http://<service>/<path>` goes through the mesh, so
 * a key service of the system is found like any other; any other URL is fetched directly.
 */
export function createFetchJson(mesh: MeshClient): (url: string, timeoutMs: number) => Promise<unknown> {
  return async (url, timeoutMs) => {
    const target = new URL(url);
    if (target.protocol === 'http:' && mesh.table()?.services[target.hostname] !== undefined) {
      const res = await mesh.request({
        service: target.hostname,
        path: `${target.pathname}${target.search}`,
        timeoutMs,
      });
      if (res.statusCode !== 200) throw new Error(`GET ${url} through the mesh answered ${res.statusCode}`);
      return res.json();
    }
    const res = await request(target, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`GET ${url} answered ${res.statusCode}`);
    }
    return res.body.json();
  };
}
