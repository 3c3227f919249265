import pg from 'pg';

/**
 * Runs CHECKPOINT on the server: everything written so far goes to the data files, and a crash
 * recovery after it starts from here. Needs a superuser (or pg_checkpoint) URL.
 */
export async function checkpoint(serverUrl: string, connectTimeoutMs: number): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: connectTimeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('CHECKPOINT');
  } finally {
    await client.end().catch(() => {});
  }
}
