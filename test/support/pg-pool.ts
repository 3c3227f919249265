import pg from 'pg';

/**
 * A pg.Pool for a test's own queries, with the 'error' listener every pool needs: without one, an
 * idle connection cut by a fault the test injects, a `DROP DATABASE ... WITH (FORCE)` or a server
 * stopping is an unhandled error that fails the whole run. The pool drops the broken connection and
 * opens another on the next query, and a query that fails still rejects, so nothing is hidden.
 */
export function testPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', () => undefined);
  return pool;
}

/** A pg.Client for a test, with an 'error' listener for the same reason (its queries still reject). */
export function testClient(config: pg.ClientConfig): pg.Client {
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  return client;
}
