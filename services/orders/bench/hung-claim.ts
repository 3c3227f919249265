/**
 * How long a claim of a SIGSTOPped holder outlives it, for the two ways of holding an idempotency
 * key that issue 9 named:
 *
 * - `keepalive`: a session advisory lock on a connection held idle (as across the payments call),
 *   with the server's TCP keepalives and `client_connection_check_interval` as short as they go and
 *   the pg client's `keepAlive` on;
 * - `lease`: a row whose `locked_until` the holder renews every second for three more seconds;
 *
 * and, for the row locks of a holder stopped inside a transaction, `idle-in-transaction`: a row
 * locked in a transaction with `idle_in_transaction_session_timeout` at 2 s.
 *
 *   node services/orders/bench/hung-claim.ts      (DATABASE_URL, default the machine's PostgreSQL)
 *
 * Each holder is a child process, stopped with SIGSTOP once it holds its claim; the parent polls
 * every 50 ms until it can take the claim itself, for at most 20 s, then kills the child.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCK = 7_700_001;
const GIVE_UP_MS = 20_000;
type Kind = 'keepalive' | 'lease' | 'idle-in-transaction';

if (process.argv[2] === 'holder') await hold(process.argv[3] as Kind, process.argv[4]!);
else await measure();

async function measure(): Promise<void> {
  const table = `hung_claim_${process.pid}`;
  const admin = new pg.Client({ connectionString: url });
  admin.on('error', () => undefined);
  await admin.connect();
  await admin.query(`CREATE TABLE ${table} (id int PRIMARY KEY, locked_until timestamptz)`);
  await admin.query(`INSERT INTO ${table} VALUES (1, NULL)`);
  try {
    for (const kind of ['keepalive', 'lease', 'idle-in-transaction'] as const) {
      const releasedMs = await stopHolder(kind, table, admin);
      console.log(
        `${kind.padEnd(20)} ${releasedMs === null ? `still held after ${GIVE_UP_MS / 1_000} s` : `released ${(releasedMs / 1_000).toFixed(2)} s after SIGSTOP`}`,
      );
      await admin.query(`UPDATE ${table} SET locked_until = NULL`);
    }
  } finally {
    await admin.query(`DROP TABLE ${table}`);
    await admin.end();
  }
}

/** Starts a holder, stops it once it holds its claim, and times how long until the claim can be taken. */
async function stopHolder(kind: Kind, table: string, admin: pg.Client): Promise<number | null> {
  const child = spawn(process.execPath, [import.meta.filename, 'holder', kind, table], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('holding') && resolve());
      child.once('exit', (code) => reject(new Error(`the ${kind} holder exited with ${code}`)));
    });
    // Long enough for a keepalive probe to have been answered at least once.
    await sleep(1_500);
    child.kill('SIGSTOP');
    const stoppedAt = performance.now();
    while (performance.now() - stoppedAt < GIVE_UP_MS) {
      if (await canTake(kind, table, admin)) return performance.now() - stoppedAt;
      await sleep(50);
    }
    return null;
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
  }
}

async function canTake(kind: Kind, table: string, admin: pg.Client): Promise<boolean> {
  if (kind === 'keepalive') {
    const { rows } = await admin.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCK]);
    if (rows[0]!.ok) await admin.query('SELECT pg_advisory_unlock($1)', [LOCK]);
    return rows[0]!.ok;
  }
  if (kind === 'lease') {
    const { rowCount } = await admin.query(
      `UPDATE ${table} SET locked_until = now() + interval '3 s' WHERE id = 1 AND locked_until < now()`,
    );
    return rowCount === 1;
  }
  await admin.query('BEGIN');
  try {
    const { rowCount } = await admin.query(`SELECT 1 FROM ${table} WHERE id = 1 FOR UPDATE SKIP LOCKED`);
    return rowCount === 1;
  } finally {
    await admin.query('ROLLBACK');
  }
}

/** The child: takes its claim, says so, and keeps it (renewing a lease) until it is stopped. */
async function hold(kind: Kind, table: string): Promise<void> {
  const client = new pg.Client({
    connectionString: url,
    keepAlive: true,
    keepAliveInitialDelayMillis: 1_000,
  });
  client.on('error', () => undefined);
  await client.connect();
  if (kind === 'keepalive') {
    // The shortest the server allows: a dead peer would be found within about 3 s.
    await client.query('SET tcp_keepalives_idle = 1');
    await client.query('SET tcp_keepalives_interval = 1');
    await client.query('SET tcp_keepalives_count = 2');
    await client.query(`SET tcp_user_timeout = '2s'`);
    await client.query(`SET client_connection_check_interval = '500ms'`);
    await client.query('SELECT pg_advisory_lock($1)', [LOCK]);
  } else if (kind === 'lease') {
    const renew = () =>
      client.query(`UPDATE ${table} SET locked_until = now() + interval '3 s' WHERE id = 1`);
    await renew();
    setInterval(renew, 1_000);
  } else {
    await client.query('BEGIN');
    await client.query(`SET LOCAL idle_in_transaction_session_timeout = '2s'`);
    await client.query(`SELECT 1 FROM ${table} WHERE id = 1 FOR UPDATE`);
  }
  console.log('holding');
  setInterval(() => undefined, 60_000);
}
