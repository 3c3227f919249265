import { createService, HttpError, type MeshResponse } from '@flotilla/runtime';

/**
 * a: the entry of the chain. Answers with its own version and b's answer, so one line shows which
 * version of every service a request went through.
 */
const service = createService({ name: 'a' });

service.get('/', async (ctx) => {
  const text = `Microservice A ${service.identity.version} -> ${await askB()}`;
  ctx.res.writeHead(200, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  ctx.res.end(text);
});

/** b's answer. A failure of b is a's 502 with the runtime's error body, never a stack trace. */
async function askB(): Promise<string> {
  let res: MeshResponse;
  try {
    res = await service.mesh.request({ service: 'b', path: '/' });
  } catch (cause) {
    throw new HttpError(502, 'B_FAILED', 'Service b could not be reached; retry shortly.', { cause });
  }
  if (res.statusCode !== 200) {
    throw new HttpError(502, 'B_FAILED', `Service b answered ${res.statusCode}.`, {
      details: { status: res.statusCode },
    });
  }
  return res.text();
}

await service.start();
