import type pg from 'pg';

/**
 * Runs `work` in a transaction on a client of `pool`, opened with `begin` (a `BEGIN` with an
 * isolation level, say): committed when it resolves, rolled back (and the error rethrown) when it
 * throws. A client whose ROLLBACK failed is destroyed rather than handed to the next caller with
 * its state unknown.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (tx: pg.PoolClient) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => {
      broken = rollbackErr;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
