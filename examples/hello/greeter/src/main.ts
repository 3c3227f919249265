import { createService, HttpError } from '@flotilla/runtime';
import { z } from 'zod';

/**
 * greeter: greets by name, counts greetings in its own PostgreSQL database, and asks the clock
 * service for the time over the mesh. The answer names both instances, so a client can see the
 * load spread over replicas of two services.
 */
const service = createService({
  name: 'greeter',
  database: { migrationsDir: new URL('../migrations', import.meta.url) },
});

const query = z.object({ name: z.string().trim().min(1).max(64).default('world') });

service.get('/greet', { query }, async (ctx) => {
  const { rows } = await service.db.query<{ count: string }>(
    `INSERT INTO greetings (name, count) VALUES ($1, 1)
     ON CONFLICT (name) DO UPDATE SET count = greetings.count + 1
     RETURNING count`,
    [ctx.query.name],
  );
  const clock = await service.mesh.request({ service: 'clock', path: '/time', timeoutMs: 2_000 });
  if (clock.statusCode !== 200) {
    throw new HttpError(502, 'CLOCK_FAILED', `The clock service answered ${clock.statusCode}.`);
  }
  const time = clock.json<{ now: string; instance: string }>();
  return {
    message: `Hello, ${ctx.query.name}!`,
    greetings: Number(rows[0]!.count),
    time: time.now,
    greeter: service.identity.instance,
    clock: time.instance,
  };
});

service.put('/ready', { body: z.object({ ready: z.boolean() }) }, (ctx) => {
  service.setReady(ctx.body.ready);
  return { ready: ctx.body.ready, instance: service.identity.instance };
});

await service.start();
