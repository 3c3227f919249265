import { createService } from '@flotilla/runtime';

/** c: the end of the chain. Answers with its own version. */
const service = createService({ name: 'c' });

service.get('/', (ctx) => {
  const text = `Microservice C ${service.identity.version}`;
  ctx.res.writeHead(200, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  ctx.res.end(text);
});

await service.start();
