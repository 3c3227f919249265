/**
 * Runs every step in order, each after the one before has ended, even when one fails, and then
 * throws the first failure. A test bed stops its PostgreSQL last: a step that failed must not
 * leave the server running, and a server stopped early would cut the connections of the steps
 * after it (a cut on a pool without an 'error' listener fails the whole run).
 */
export async function inOrder(steps: readonly (() => unknown)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, `${failures.length} teardown steps failed`);
}
