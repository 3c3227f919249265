/** The shop's HTTP API through the gateway, as the benchmark calls it: one keep-alive pool, JSON in and out. */
import { Pool } from 'undici';

/** A request that takes longer than this (headers or body) counts as an error. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** What a call answered. `errorKind` is null when the status was the expected one. */
export interface Answer<T> {
  status: number;
  body: T | null;
  /** `<status> <error code>` for another status, `socket <code>` when no answer came. */
  errorKind: string | null;
}

export interface Product {
  id: string;
  name: string;
  price_cents: number;
  stock: number;
}

export interface Order {
  id: string;
  status: string;
  items: { product_id: string; quantity: number }[];
}

/** The approving test card (docs/shop.md). */
export const APPROVING_CARD = '4242 4242 4242 4242';

/** Calls the shop through the gateway with at most `connections` keep-alive connections. */
export class ShopApi {
  readonly #pool: Pool;

  constructor(gatewayUrl: string, connections: number) {
    this.#pool = new Pool(gatewayUrl, {
      connections,
      pipelining: 1,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: 30_000,
    });
  }

  /** POST /api/identity/v1/register: 201 with the new user. */
  register(email: string, name: string, password: string): Promise<Answer<{ id: string }>> {
    return this.#call('POST', '/api/identity/v1/register', { body: { email, name, password } }, 201);
  }

  /** POST /api/identity/v1/token: 200 with a signed access token. */
  token(email: string, password: string): Promise<Answer<{ access_token: string }>> {
    return this.#call('POST', '/api/identity/v1/token', { body: { email, password } }, 200);
  }

  /** GET /api/catalog/v1/products?q=: 200 with the first page of matches (anonymous). */
  search(q: string, limit = 10): Promise<Answer<{ items: Product[] }>> {
    const query = new URLSearchParams({ q, limit: String(limit) });
    return this.#call('GET', `/api/catalog/v1/products?${query}`, {}, 200);
  }

  /** POST /api/catalog/v1/products as an admin: 201 with the product. */
  createProduct(
    token: string,
    product: { sku: string; name: string; description: string; price_cents: number; stock: number },
  ): Promise<Answer<Product>> {
    return this.#call('POST', '/api/catalog/v1/products', { token, body: product }, 201);
  }

  /** POST /api/orders/v1/orders with a new `key`, paid with the approving card: 201 with the paid order. */
  order(
    token: string,
    key: string,
    items: { product_id: string; quantity: number }[],
  ): Promise<Answer<Order>> {
    return this.#call(
      'POST',
      '/api/orders/v1/orders',
      { token, body: { items, card_number: APPROVING_CARD }, headers: { 'idempotency-key': key } },
      201,
    );
  }

  /** Closes the pool once the requests in flight have answered. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  async #call<T>(
    method: 'GET' | 'POST',
    path: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string> },
    expected: number,
  ): Promise<Answer<T>> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await this.#pool.request({
        method,
        path,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
      const text = await res.body.text();
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON (a proxy error page, say): the status tells what happened.
      }
      if (res.statusCode === expected) return { status: res.statusCode, body: body as T, errorKind: null };
      const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
      return {
        status: res.statusCode,
        body: null,
        errorKind: `${res.statusCode}${typeof code === 'string' ? ` ${code}` : ''}`,
      };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return {
        status: 0,
        body: null,
        errorKind: `socket ${typeof code === 'string' ? code : (error as Error).name}`,
      };
    }
  }
}
