import type { RouteSpec } from '@flotilla/spec';
import { describe, expect, it } from 'vitest';
import { upstreamPath } from './upstream-path.ts';

function routeOf(
  pathPrefix: string,
  rewrite: Partial<Pick<RouteSpec, 'stripPrefix' | 'rewritePrefix'>>,
): RouteSpec {
  return {
    match: { pathPrefix },
    service: 's',
    stripPrefix: false,
    timeoutMs: 1_000,
    plugins: {},
    ...rewrite,
  };
}

describe('upstreamPath', () => {
  it('leaves the path alone without stripPrefix or rewritePrefix', () => {
    expect(upstreamPath(routeOf('/api', {}))('/api/x?y=1')).toBe('/api/x?y=1');
  });

  it('strips the matched prefix and keeps the query', () => {
    const path = upstreamPath(routeOf('/api/orders', { stripPrefix: true }));
    expect(path('/api/orders/7?expand=items&x=%20')).toBe('/7?expand=items&x=%20');
    expect(path('/api/orders')).toBe('/');
    expect(path('/api/orders/')).toBe('/');
    expect(path('/api/orders?page=2')).toBe('/?page=2');
  });

  it('strips nothing from the root prefix', () => {
    expect(upstreamPath(routeOf('/', { stripPrefix: true }))('/a?b')).toBe('/a?b');
  });

  it('replaces the matched prefix and keeps the query', () => {
    const path = upstreamPath(routeOf('/shop/', { rewritePrefix: '/v2/' }));
    expect(path('/shop/items?q=1')).toBe('/v2/items?q=1');
    expect(path('/shop')).toBe('/v2');
    expect(path('/shop?q=1')).toBe('/v2?q=1');
  });

  it('rewrites to the root', () => {
    const path = upstreamPath(routeOf('/shop', { rewritePrefix: '/' }));
    expect(path('/shop/items')).toBe('/items');
    expect(path('/shop')).toBe('/');
  });
});
