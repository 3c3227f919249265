import type { RouteSpec } from '@flotilla/spec';
import { describe, expect, it } from 'vitest';
import { hasDotSegment, hostOf, Router } from './router.ts';

function route(name: string, match: Partial<RouteSpec['match']>): { spec: RouteSpec; value: string } {
  return {
    spec: {
      name,
      match: { pathPrefix: '/', ...match },
      service: name,
      stripPrefix: false,
      timeoutMs: 1_000,
      plugins: {},
    },
    value: name,
  };
}

describe('Router', () => {
  it('matches a prefix only at a segment boundary', () => {
    const router = new Router([route('api', { pathPrefix: '/api' })]);
    expect(router.find('', '/api', 'GET')).toBe('api');
    expect(router.find('', '/api/', 'GET')).toBe('api');
    expect(router.find('', '/api/orders/1', 'GET')).toBe('api');
    expect(router.find('', '/apix', 'GET')).toBeUndefined();
    expect(router.find('', '/ap', 'GET')).toBeUndefined();
  });

  it('treats a prefix with a trailing slash like one without', () => {
    const router = new Router([route('api', { pathPrefix: '/api/' })]);
    expect(router.find('', '/api', 'GET')).toBe('api');
    expect(router.find('', '/api/x', 'GET')).toBe('api');
    expect(router.find('', '/apix', 'GET')).toBeUndefined();
  });

  it('prefers the longest prefix whatever the declaration order', () => {
    const router = new Router([
      route('root', { pathPrefix: '/' }),
      route('api', { pathPrefix: '/api' }),
      route('orders', { pathPrefix: '/api/orders' }),
    ]);
    expect(router.find('', '/api/orders/7', 'GET')).toBe('orders');
    expect(router.find('', '/api/users', 'GET')).toBe('api');
    expect(router.find('', '/index.html', 'GET')).toBe('root');
  });

  it('breaks a tie between equal prefixes by declaration order', () => {
    const router = new Router([route('first', { pathPrefix: '/a' }), route('second', { pathPrefix: '/a/' })]);
    expect(router.find('', '/a/b', 'GET')).toBe('first');
  });

  it('matches exact hosts, then wildcard hosts, then routes without a host', () => {
    const router = new Router([
      route('any', { pathPrefix: '/api' }),
      route('wild', { host: '*.shop.test' }),
      route('longer-wild', { host: '*.eu.shop.test' }),
      route('exact', { host: 'admin.shop.test' }),
    ]);
    expect(router.find('admin.shop.test', '/api/x', 'GET')).toBe('exact');
    expect(router.find('www.eu.shop.test', '/api/x', 'GET')).toBe('longer-wild');
    expect(router.find('www.shop.test', '/api/x', 'GET')).toBe('wild');
    expect(router.find('a.b.shop.test', '/', 'GET')).toBe('wild');
    expect(router.find('other.test', '/api/x', 'GET')).toBe('any');
    expect(router.find('other.test', '/', 'GET')).toBeUndefined();
  });

  it('does not let a wildcard host match its bare domain', () => {
    const router = new Router([route('wild', { host: '*.shop.test' })]);
    expect(router.find('shop.test', '/', 'GET')).toBeUndefined();
    expect(router.find('xshop.test', '/', 'GET')).toBeUndefined();
  });

  it('compares hosts without case', () => {
    const router = new Router([route('exact', { host: 'Shop.Test' })]);
    expect(router.find(hostOf('SHOP.test:8080'), '/', 'GET')).toBe('exact');
  });

  it('falls through to a shorter prefix that accepts the method', () => {
    const router = new Router([
      route('read', { pathPrefix: '/api', methods: ['GET'] }),
      route('write', { pathPrefix: '/api/orders', methods: ['POST'] }),
    ]);
    expect(router.find('', '/api/orders', 'POST')).toBe('write');
    expect(router.find('', '/api/orders', 'GET')).toBe('read');
    expect(router.find('', '/api/orders', 'DELETE')).toBeUndefined();
  });

  it('names the nearest route and the methods its host and path allow when the method matches none', () => {
    const router = new Router([
      route('read', { pathPrefix: '/api', methods: ['GET', 'HEAD'] }),
      route('write', { pathPrefix: '/api/orders', methods: ['POST'] }),
    ]);
    expect(router.nearest('', '/api/orders')).toEqual({ value: 'write', allow: 'GET, HEAD, POST' });
    expect(router.nearest('', '/other')).toBeUndefined();
  });
});

describe('hostOf', () => {
  it('strips the port and lowercases', () => {
    expect(hostOf('Example.COM:8080')).toBe('example.com');
    expect(hostOf('example.com')).toBe('example.com');
    expect(hostOf('[::1]:8080')).toBe('[::1]');
    expect(hostOf(undefined)).toBe('');
  });
});

describe('hasDotSegment', () => {
  it('finds plain and percent-encoded dot segments', () => {
    expect(hasDotSegment('/public/../admin')).toBe(true);
    expect(hasDotSegment('/public/%2e%2E/admin')).toBe(true);
    expect(hasDotSegment('/a/./b')).toBe(true);
    expect(hasDotSegment('/a/..')).toBe(true);
  });

  it('leaves names that merely contain dots alone', () => {
    expect(hasDotSegment('/files/.env.example')).toBe(false);
    expect(hasDotSegment('/a/b...c/%2Fx')).toBe(false);
    expect(hasDotSegment('/api/orders')).toBe(false);
  });
});
