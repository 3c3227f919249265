import { createService } from '@flotilla/runtime';
import { z } from 'zod';

/**
 * clock: tells the time and which instance told it. Its readiness can be turned off and on
 * through PUT /ready on the instance's own port (not routed by the gateway), to watch the
 * platform take an instance out of traffic and bring it back.
 */
const service = createService({ name: 'clock' });

service.get('/time', () => ({
  now: new Date().toISOString(),
  instance: service.identity.instance,
  version: service.identity.version,
}));

service.put('/ready', { body: z.object({ ready: z.boolean() }) }, (ctx) => {
  service.setReady(ctx.body.ready);
  return { ready: ctx.body.ready, instance: service.identity.instance };
});

await service.start();
