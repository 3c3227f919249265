import { setTimeout as sleep } from 'node:timers/promises';
import { createService } from './index.ts';

// A real service with a database, run as `node database.fixture.ts` with DATABASE_URL set, for the
// tests and the bench that break its connections from outside.
const service = createService({ name: 'dbfixture', database: {} });

service.get('/query', async () => {
  const { rows } = await service.db.query('SELECT 1 AS one');
  return rows[0];
});

// Holds a checked-out client across a pause, as orders does across its call to payments, then
// uses it: a backend terminated during the pause must fail this request, not the process.
service.get('/hold', async (ctx) => {
  const client = await service.db.connect();
  try {
    ctx.log.info('holding a connection');
    await sleep(Number(ctx.query.get('ms') ?? 0));
    const { rows } = await client.query('SELECT 1 AS one');
    return rows[0];
  } finally {
    client.release();
  }
});

// A transaction that keeps its connection for `ms`, like a request doing real work.
service.get('/work', async (ctx) => {
  const seconds = Number(ctx.query.get('ms') ?? 0) / 1000;
  await service.transaction((tx) => tx.query('SELECT pg_sleep($1)', [seconds]));
  return { worked: true };
});

await service.start();
