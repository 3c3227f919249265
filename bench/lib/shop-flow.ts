/**
 * What the benchmark's virtual users do in the shop: the catalogue and customers it sets up, and
 * one iteration of each measured phase. Every paid order is tallied, so that the checks after the
 * load can compare what clients were told with what the databases hold.
 */
import { randomUUID } from 'node:crypto';
import type { Iteration, Timed } from './load-loop.ts';
import type { Product, ShopApi } from './shop-api.ts';

/** Stock of each product: the service's maximum, far more than a run of a few minutes sells. */
export const INITIAL_STOCK = 1_000_000;

/** Name words weigh more in the search ranking; the descriptions share words so that some terms match several. */
const CATALOGUE = [
  ['Espresso cup', 'A thick-walled porcelain cup for coffee, a kitchen classic.'],
  ['Linen apron', 'A kitchen apron of washed linen with two pockets.'],
  ['Cast iron pan', 'A pre-seasoned cast iron pan for the kitchen, a gift for life.'],
  ['Chef knife', 'A forged steel chef knife, 20 cm blade, for every kitchen.'],
  ['Bamboo cutting board', 'A bamboo board that is gentle on knife edges.'],
  ['Ceramic teapot', 'A ceramic teapot for loose leaf tea, holds a litre.'],
  ['Copper kettle', 'A copper kettle for the stove, for tea or coffee.'],
  ['Wool blanket', 'A woven wool blanket, a warm gift.'],
  ['Oak serving tray', 'An oiled oak tray for serving tea, coffee or breakfast.'],
  ['Glass water bottle', 'A borosilicate glass bottle with a bamboo lid.'],
  ['Cotton tea towel', 'A cotton towel for drying glasses in the kitchen.'],
  ['Steel french press', 'A double-walled steel french press for coffee, a gift for mornings.'],
] as const;

/** What virtual users search for: a name word, two words, or a word several descriptions share. */
export const SEARCH_TERMS = [
  'espresso',
  'apron',
  'cast iron',
  'knife',
  'bamboo board',
  'teapot',
  'kettle',
  'blanket',
  'oak tray',
  'bottle',
  'towel',
  'french press',
  'coffee',
  'tea',
  'kitchen',
  'gift',
] as const;

export interface Customer {
  id: string;
  email: string;
  password: string;
  token: string;
  /** Iterations of the flow so far; staggered at the start so that token refreshes do not come in waves. */
  iterations: number;
}

/** Every 201 order clients were told about, and the units sold per product by them. */
export class OrderTally {
  readonly paid = new Set<string>();
  readonly unitsByProduct = new Map<string, number>();

  add(order: { id: string; items: { product_id: string; quantity: number }[] }): void {
    this.paid.add(order.id);
    for (const item of order.items) {
      this.unitsByProduct.set(
        item.product_id,
        (this.unitsByProduct.get(item.product_id) ?? 0) + item.quantity,
      );
    }
  }
}

/** Creates the catalogue as the admin; throws unless every product is created. */
export async function createCatalogue(api: ShopApi, adminToken: string, runId: string): Promise<Product[]> {
  const products: Product[] = [];
  for (const [i, [name, description]] of CATALOGUE.entries()) {
    const created = await api.createProduct(adminToken, {
      sku: `bench-${runId}-${i}`,
      name,
      description,
      price_cents: 500 + 250 * i,
      stock: INITIAL_STOCK,
    });
    if (!created.body) throw new Error(`creating product ${name}: ${created.errorKind}`);
    products.push(created.body);
  }
  for (const term of SEARCH_TERMS) {
    const found = await api.search(term);
    if (!found.body?.items.length) throw new Error(`searching "${term}" found nothing: ${found.errorKind}`);
  }
  return products;
}

/** Registers `count` customers, `parallel` at a time, and signs each in. */
export async function registerCustomers(
  api: ShopApi,
  count: number,
  parallel: number,
  tokenEvery: number,
): Promise<Customer[]> {
  const customers: Customer[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const n = next++;
      const email = `bench-${randomUUID()}@shop.test`;
      const password = `bench-pw-${randomUUID()}`;
      const registered = await api.register(email, `Bench Customer ${n}`, password);
      if (!registered.body) throw new Error(`registering customer ${n}: ${registered.errorKind}`);
      const token = await api.token(email, password);
      if (!token.body) throw new Error(`signing in customer ${n}: ${token.errorKind}`);
      customers[n] = {
        id: registered.body.id,
        email,
        password,
        token: token.body.access_token,
        iterations: Math.floor((n * tokenEvery) / count) % tokenEvery,
      };
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return customers;
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** The requests of the flow, shared by the single-operation phases and the mix. */
export class ShopFlow {
  readonly api: ShopApi;
  readonly customers: Customer[];
  readonly products: Product[];
  readonly tally: OrderTally;

  constructor(api: ShopApi, customers: Customer[], products: Product[], tally: OrderTally) {
    this.api = api;
    this.customers = customers;
    this.products = products;
    this.tally = tally;
  }

  /** Signs the customer in again; a new token replaces the old one only when it came. */
  async token(customer: Customer, timed: Timed): Promise<void> {
    const answer = await timed('token', () => this.api.token(customer.email, customer.password));
    if (answer.body) customer.token = answer.body.access_token;
  }

  /** Searches a random term; the products found, or none after an error. */
  async search(timed: Timed): Promise<Product[]> {
    const answer = await timed('search', () => this.api.search(pick(SEARCH_TERMS)));
    return answer.body?.items ?? [];
  }

  /** Orders one unit of `product` with a new Idempotency-Key, paid with the approving card. */
  async order(customer: Customer, product: Product, timed: Timed): Promise<void> {
    const answer = await timed('order', () =>
      this.api.order(customer.token, randomUUID(), [{ product_id: product.id, quantity: 1 }]),
    );
    if (answer.body) this.tally.add(answer.body);
  }

  customer(user: number): Customer {
    return this.customers[user % this.customers.length]!;
  }

  /** Phase a: sign-in alone. */
  readonly tokenOnly: Iteration = (user, timed) => this.token(this.customer(user), timed);

  /** Phase b: search alone. */
  readonly searchOnly: Iteration = async (_user, timed) => {
    await this.search(timed);
  };

  /** Phase c: an order of a random product, no search before it. */
  readonly orderOnly: Iteration = (user, timed) =>
    this.order(this.customer(user), pick(this.products), timed);

  /**
   * Phase d: search, then order one of the products found (a random one of the catalogue when the
   * search failed), and every `tokenEvery` iterations of a customer sign in again first, as a client
   * refreshes its token.
   */
  mix(tokenEvery: number): Iteration {
    return async (user, timed) => {
      const customer = this.customer(user);
      customer.iterations++;
      if (customer.iterations % tokenEvery === 0) await this.token(customer, timed);
      const found = await this.search(timed);
      await this.order(customer, found.length > 0 ? pick(found) : pick(this.products), timed);
    };
  }
}
