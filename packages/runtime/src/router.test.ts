import { describe, expect, it } from 'vitest';
import { RuntimeError } from './errors.ts';
import { Router } from './router.ts';

function router(): Router<string> {
  const r = new Router<string>();
  r.add('GET', '/orders', 'list');
  r.add('POST', '/orders', 'create');
  r.add('GET', '/orders/summary', 'summary');
  r.add('GET', '/orders/:id', 'get');
  r.add('DELETE', '/orders/:orderId', 'delete');
  r.add('GET', '/orders/:id/items/:itemId', 'item');
  return r;
}

describe('Router', () => {
  it.each([
    ['GET', '/orders', 'list', {}],
    ['POST', '/orders', 'create', {}],
    ['GET', '/orders/summary', 'summary', {}],
    ['GET', '/orders/42', 'get', { id: '42' }],
    ['DELETE', '/orders/42', 'delete', { orderId: '42' }],
    ['DELETE', '/orders/summary', 'delete', { orderId: 'summary' }],
    ['GET', '/orders/a%20b/items/7', 'item', { id: 'a b', itemId: '7' }],
    ['HEAD', '/orders/42', 'get', { id: '42' }],
  ])('routes %s %s to %s with its parameters', (method, path, value, params) => {
    expect(router().find(method, path)).toEqual({
      kind: 'found',
      value,
      params,
      pattern: expect.any(String),
    });
  });

  it('reports the pattern that matched, for metrics labels', () => {
    const found = router().find('GET', '/orders/42/items/7');
    expect(found.kind === 'found' && found.pattern).toBe('/orders/:id/items/:itemId');
  });

  it.each([
    ['/orders/'],
    ['/orders/42/'],
    ['/order'],
    ['/orders/42/items'],
    ['//orders'],
    ['/orders/%E0%A4%A'],
  ])('matches whole segments exactly, so %s is not found', (path) => {
    expect(router().find('GET', path)).toEqual({ kind: 'not-found' });
  });

  it('lists the allowed methods of a known path requested with another method', () => {
    expect(router().find('PUT', '/orders')).toEqual({
      kind: 'method-not-allowed',
      allowed: ['GET', 'HEAD', 'POST'],
    });
    expect(router().find('PATCH', '/orders/42')).toEqual({
      kind: 'method-not-allowed',
      allowed: ['DELETE', 'GET', 'HEAD'],
    });
  });

  it('refuses a route that is already registered, a malformed parameter and a path without "/"', () => {
    const r = router();
    expect(() => r.add('GET', '/orders/:other', 'x')).toThrow(RuntimeError);
    expect(() => r.add('GET', '/orders', 'x')).toThrow(/already registered/);
    expect(() => r.add('GET', '/a/x-:id', 'x')).toThrow(/whole segment/);
    expect(() => r.add('GET', '/a/:id/:id', 'x')).toThrow(/repeats/);
    expect(() => r.add('GET', 'orders', 'x')).toThrow(/start with/);
  });
});
