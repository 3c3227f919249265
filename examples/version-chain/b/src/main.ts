import { createService, HttpError, type MeshResponse } from '@flotilla/runtime';

/** b: the middle of the chain. Answers with its own version and c's answer. */
const service = createService({ name: 'b' });

service.get('/', async (ctx) => {
  const text = `Microservice B ${service.identity.version} -> ${await askC()}`;
  ctx.res.writeHead(200, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  ctx.res.end(text);
});

/** c's answer. A failure of c is b's 502 with the runtime's error body, never a stack trace. */
async function askC(): Promise<string> {
  let res: MeshResponse;
  try {
    res = await service.mesh.request({ service: 'c', path: '/' });
  } catch (cause) {
    throw new HttpError(502, 'C_FAILED', 'Service c could not be reached; retry shortly.', { cause });
  }
  if (res.statusCode !== 200) {
    throw new HttpError(502, 'C_FAILED', `Service c answered ${res.statusCode}.`, {
      details: { status: res.statusCode },
    });
  }
  return res.text();
}

await service.start();
