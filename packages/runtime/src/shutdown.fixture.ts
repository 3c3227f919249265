import { setTimeout as sleep } from 'node:timers/promises';
import { createService } from './index.ts';

// A tiny real service for the shutdown tests, run as `node shutdown.fixture.ts`.
const service = createService({ name: 'fixture' });
service.get('/slow', async (ctx) => {
  const ms = Number(ctx.query.get('ms'));
  ctx.log.info('slow request started');
  await sleep(ms);
  return { slept: ms };
});
await service.start();
