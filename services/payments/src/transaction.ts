import type { Service } from '@flotilla/runtime';

type Pool = Service['db'];

/** The one connection a transaction runs on. */
export type Transaction = Pick<Pool, 'query'>;

/** Runs `work` in one transaction on one connection: committed when it returns, rolled back when it throws. */
export async function inTransaction<T>(pool: Pool, work: (tx: Transaction) => Promise<T>): Promise<T> {
  const tx = await pool.connect();
  let broken: Error | undefined;
  try {
    await tx.query('BEGIN');
    const result = await work(tx);
    await tx.query('COMMIT');
    return result;
  } catch (err) {
    // A connection that cannot even roll back goes back to the pool destroyed, not reused.
    await tx.query('ROLLBACK').catch((rollbackErr: Error) => {
      broken = rollbackErr;
    });
    throw err;
  } finally {
    tx.release(broken);
  }
}
