/**
 * The upstream of the gateway benchmark: the cheapest HTTP server Node can be, so that the figures
 * measure the proxies in front of it. It answers `/` with a fixed body, serves the instance
 * contract's probes and an empty `/metrics`, and on SIGTERM turns unready and drains.
 */
import { createServer } from 'node:http';

const BODY = Buffer.from('hello from the bench upstream\n');
const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

let ready = true;

const server = createServer((req, res) => {
  switch (req.url) {
    case '/':
      res.writeHead(200, { ...TEXT, 'content-length': BODY.length }).end(BODY);
      return;
    case '/healthz':
      res.writeHead(200, TEXT).end('ok\n');
      return;
    case '/readyz':
      res.writeHead(ready ? 200 : 503, TEXT).end(ready ? 'ready\n' : 'draining\n');
      return;
    case '/metrics':
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end();
      return;
    default:
      res.writeHead(404, TEXT).end('not found\n');
  }
});

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(JSON.stringify({ level: 'info', msg: 'listening', port }));
});

process.once('SIGTERM', () => {
  ready = false;
  const graceMs = Number(process.env.FLOTILLA_GRACE_PERIOD_MS ?? 10_000);
  setTimeout(() => process.exit(0), graceMs).unref();
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
