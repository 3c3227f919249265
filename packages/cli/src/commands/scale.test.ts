import { afterEach, describe, expect, it } from 'vitest';
import {
  type FakeAdmin,
  type FakeHandler,
  sampleStatus,
  sendJson,
  startFakeAdmin,
} from '../testing/fake-admin-server.ts';
import { runFlotilla } from '../testing/run-flotilla.ts';

// The admin API is a fake here: the control plane is another package, tested on its own.
let admin: FakeAdmin | undefined;

afterEach(async () => {
  await admin?.close();
  admin = undefined;
});

/** Answers status with the sample system and scale requests with `scaleAnswer`. */
function handler(scaleAnswer: { status: number; body: unknown }): FakeHandler {
  return (request, res) => {
    if (request.url === '/v1/status') sendJson(res, 200, sampleStatus());
    else sendJson(res, scaleAnswer.status, scaleAnswer.body);
  };
}

describe('flotilla scale', () => {
  it('asks for the new replica count and reports the old one', async () => {
    admin = await startFakeAdmin(handler({ status: 200, body: {} }));
    const result = await runFlotilla(['scale', 'orders', '3'], { cwd: admin.dir });
    expect(result).toEqual({ code: 0, stdout: 'orders: 3 replicas (was 2)\n', stderr: '' });
    expect(admin.requests[1]).toEqual({
      method: 'POST',
      url: '/v1/services/orders/scale',
      body: { replicas: 3 },
    });
  });

  it('scales one version with --version', async () => {
    admin = await startFakeAdmin(handler({ status: 200, body: {} }));
    const result = await runFlotilla(['scale', 'orders', '1', '--version', 'v1'], { cwd: admin.dir });
    expect(result.stdout).toBe('orders v1: 1 replica (was 2)\n');
    expect(admin.requests[1]?.body).toEqual({ replicas: 1, version: 'v1' });
  });

  it('reports every version when a service with several versions is scaled without --version', async () => {
    const status = sampleStatus();
    status.services[0]!.versions.push({ name: 'v2', weight: 0, replicas: 1 });
    admin = await startFakeAdmin((request, res) =>
      sendJson(res, 200, request.url === '/v1/status' ? status : {}),
    );
    const result = await runFlotilla(['scale', 'orders', '4'], { cwd: admin.dir });
    expect(result.stdout).toBe('orders: 4 replicas per version (was v1 2, v2 1)\n');
  });

  it("prints the API's message for an unknown service, exit 1", async () => {
    const message = 'unknown service "ordrs", did you mean "orders"?';
    admin = await startFakeAdmin(handler({ status: 404, body: { error: { code: 'NOT_FOUND', message } } }));
    const result = await runFlotilla(['scale', 'ordrs', '2'], { cwd: admin.dir });
    expect(result).toEqual({ code: 1, stdout: '', stderr: `error: ${message}\n` });
  });

  it("prints the API's message for a request it refuses, exit 1", async () => {
    const message = 'replicas must be <= 20';
    admin = await startFakeAdmin(handler({ status: 400, body: { error: { code: 'BAD_REQUEST', message } } }));
    const result = await runFlotilla(['scale', 'orders', '50'], { cwd: admin.dir });
    expect(result).toEqual({ code: 1, stdout: '', stderr: `error: ${message}\n` });
  });

  it('names the status when an error has no error body', async () => {
    admin = await startFakeAdmin((request, res) => {
      if (request.url === '/v1/status') sendJson(res, 200, sampleStatus());
      else res.writeHead(502).end('bad gateway');
    });
    const result = await runFlotilla(['scale', 'orders', '2'], { cwd: admin.dir });
    expect(result.stderr).toBe('error: admin API answered 502 Bad Gateway\n');
  });
});
