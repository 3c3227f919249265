import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { routeSpec, tableOf, testServers } from './test-harness.ts';

const servers = testServers();

const SOURCE = 'reporter="source",source_workload="gateway",source_version="v1"';

describe('gateway metrics', () => {
  it("counts requests with Istio's metric names, labels and duration buckets", async () => {
    const orders = await servers.upstream();
    const gw = await servers.gateway(
      tableOf(
        1,
        {
          routes: [
            routeSpec({ service: 'orders', match: { pathPrefix: '/orders' } }),
            routeSpec({ service: 'empty', match: { pathPrefix: '/empty' } }),
          ],
        },
        { orders: [orders.port], empty: [] },
      ),
    );
    for (const path of ['/orders/1', '/orders/2', '/empty', '/missing']) {
      const res = await request(`${gw.url}${path}`);
      await res.body.dump();
    }
    await gw.logged(4);
    const text = gw.registry.expose();

    expect(text).toContain('# TYPE istio_requests_total counter');
    expect(text).toContain('# TYPE istio_request_duration_milliseconds histogram');
    expect(text).toContain(
      `istio_requests_total{${SOURCE},destination_service_name="orders",destination_workload="orders-v1",destination_version="v1",response_code="200",response_flags="-",connection_security_policy="none"} 2`,
    );
    expect(text).toContain(
      `istio_requests_total{${SOURCE},destination_service_name="empty",destination_workload="unknown",destination_version="unknown",response_code="503",response_flags="UH",connection_security_policy="none"} 1`,
    );
    expect(text).toContain(
      `istio_requests_total{${SOURCE},destination_service_name="unknown",destination_workload="unknown",destination_version="unknown",response_code="404",response_flags="NR",connection_security_policy="none"} 1`,
    );
    const buckets = [
      ...text.matchAll(
        /istio_request_duration_milliseconds_bucket\{[^}]*destination_service_name="orders"[^}]*le="([^"]+)"\}/g,
      ),
    ].map((m) => m[1]);
    expect(buckets).toEqual([
      '0.5',
      '1',
      '5',
      '10',
      '25',
      '50',
      '100',
      '250',
      '500',
      '1000',
      '2500',
      '5000',
      '10000',
      '30000',
      '60000',
      '300000',
      '600000',
      '1800000',
      '3600000',
      '+Inf',
    ]);
    expect(text).toMatch(
      /istio_request_duration_milliseconds_count\{[^}]*destination_service_name="orders"[^}]*response_code="200"[^}]*\} 2/,
    );
  });
});
