import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CONTROL_PATHS, ENV } from '@flotilla/spec';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.ts';
import { closedPort, routeSpec, startUpstream, type TestUpstream, tableOf } from './test-harness.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const TOKEN = 'dataplane-test-token';
const ISSUER = 'https://id.test';

const servers: Server[] = [];
let child: ChildProcess | undefined;
let orders: TestUpstream | undefined;

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
  await orders?.close();
});

async function listen(server: Server, port = 0): Promise<number> {
  servers.push(server);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers, reset: true });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe('a gateway replica whose routes need tokens', () => {
  it('is not ready and answers 503 with Retry-After while its JWKS cannot be fetched, and turns ready once it can', async () => {
    const keys = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'EdDSA' };
    const nowS = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ iss: ISSUER, aud: 'shop', sub: 'user-1', iat: nowS, exp: nowS + 600 })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k1' })
      .sign(keys.privateKey);

    orders = await startUpstream((req, res) => res.end(`served ${req.url}`));
    const jwksPort = await closedPort();
    const jwksUrl = `http://127.0.0.1:${jwksPort}/.well-known/jwks.json`;
    const table = tableOf(
      1,
      {
        plugins: { jwt: { jwksUrl, issuer: ISSUER, audience: 'shop', jwksCacheS: 2 } as never },
        routes: [routeSpec({ service: 'orders' })],
      },
      { orders: [orders.port] },
    );
    const control = createServer((req, res) => {
      if (req.url !== CONTROL_PATHS.watch || req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(`event: table\nid: 1\ndata: ${JSON.stringify(table)}\n\n`);
    });
    const controlPort = await listen(control);
    const [adminPort, publicPort] = [await closedPort(), await closedPort()];
    child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        [ENV.service]: 'gateway',
        [ENV.version]: 'v1',
        [ENV.host]: '127.0.0.1',
        [ENV.port]: String(adminPort),
        [ENV.controlUrl]: `http://127.0.0.1:${controlPort}`,
        [ENV.dataPlaneToken]: TOKEN,
        [ENV.gatewayHost]: '127.0.0.1',
        [ENV.gatewayPort]: String(publicPort),
        [ENV.gracePeriodMs]: '2000',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const admin = `http://127.0.0.1:${adminPort}`;
    const gateway = `http://127.0.0.1:${publicPort}`;
    const bearer = { authorization: `Bearer ${token}` };

    // The public listener is open (the table is there), but the keys are not.
    const early = await eventually(async () => {
      const answer = await get(`${gateway}/api/orders`, bearer);
      expect(answer.status).toBe(503);
      return answer;
    }, 40_000);
    expect(JSON.parse(early.text).error.code).toBe('JWKS_UNAVAILABLE');
    expect(Number(early.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const readyz = await get(`${admin}/readyz`);
    expect(readyz.status).toBe(503);
    expect(readyz.text).toBe(
      `not ready: waiting for the JWKS at ${jwksUrl} (last attempt: connect ECONNREFUSED 127.0.0.1:${jwksPort})\n`,
    );

    // The key service comes up: the gateway's next try (1 s after a failure) gets the keys.
    await listen(
      createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] }))),
      jwksPort,
    );
    await eventually(async () => expect((await get(`${admin}/readyz`)).status).toBe(200), 10_000);
    expect(await get(`${gateway}/api/orders`, bearer)).toMatchObject({
      status: 200,
      text: 'served /api/orders',
    });
  }, 90_000);
});
