import { HEADERS } from '@flotilla/spec';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { routeSpec, tableOf, testServers } from './test-harness.ts';

const servers = testServers();
describe('access log', () => {
  it('writes one JSON line per request with the route, upstream and outcome', async () => {
    const orders = await servers.upstream();
    const gw = await servers.gateway(
      tableOf(
        1,
        { routes: [routeSpec({ name: 'orders-api', service: 'orders', match: { pathPrefix: '/api' } })] },
        { orders: [orders.port] },
      ),
    );
    const ok = await request(`${gw.url}/api/orders?token=secret`, {
      headers: { [HEADERS.requestId]: 'req-1' },
    });
    const body = await ok.body.text();
    const missing = await request(`${gw.url}/nowhere`, { method: 'POST', body: 'x' });
    await missing.body.dump();
    await gw.logged(2);

    expect(gw.accessLog[0]).toEqual({
      level: 'info',
      time: expect.any(String),
      service: 'gateway',
      version: 'v1',
      instance: expect.any(String),
      msg: 'request',
      request_id: 'req-1',
      method: 'GET',
      path: '/api/orders',
      route: 'orders-api',
      status: 200,
      bytes_out: Buffer.byteLength(body),
      duration_ms: expect.any(Number),
      upstream_service: 'orders',
      upstream_version: 'v1',
      upstream_endpoint: 'orders-v1-0',
      response_flags: '-',
      connection_security_policy: 'none',
      client_ip: '127.0.0.1',
    });
    expect(gw.accessLog[1]).toMatchObject({
      method: 'POST',
      path: '/nowhere',
      status: 404,
      response_flags: 'NR',
      error_code: 'ROUTE_NOT_FOUND',
    });
    expect(gw.accessLog[1]).not.toHaveProperty('upstream_service');
    expect(gw.accessLog[1]).not.toHaveProperty('route');
  });
});
