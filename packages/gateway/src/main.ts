import { createServer, type Server } from 'node:http';
import { createMeshClient } from '@flotilla/mesh';
import { collectProcessMetrics, createLogger, Registry } from '@flotilla/runtime';
import { DEFAULTS, ENV, readInstanceEnv } from '@flotilla/spec';
import { createAdminServer } from './admin-server.ts';
import { GATEWAY_DEFAULTS } from './defaults.ts';
import { drain } from './drain.ts';
import { createGateway } from './gateway.ts';
import { batchedStdout } from './log-destination.ts';
import { GatewayMetrics } from './metrics.ts';

/**
 * The gateway process, as the control plane runs it. The admin listener (PORT) comes up first;
 * the public listener (FLOTILLA_GATEWAY_HOST/PORT, shared by every replica through SO_REUSEPORT)
 * only once a routing table is known, because the kernel hands a listening replica its share of
 * new connections whether it is ready or not.
 */
const identity = readInstanceEnv(process.env, GATEWAY_DEFAULTS.workload);
const log = createLogger(identity, batchedStdout());
const registry = new Registry();
const stopProcessMetrics = collectProcessMetrics(registry);
const mesh = createMeshClient({
  source: { workload: GATEWAY_DEFAULTS.workload, version: identity.version },
  controlUrl: identity.controlUrl,
  token: identity.dataPlaneToken,
  log,
});
const gateway = createGateway({ mesh, log, metrics: new GatewayMetrics(registry, identity.version) });
const publicHost = process.env[ENV.gatewayHost] || DEFAULTS.gateway.listen.host;
const publicPort = Number(process.env[ENV.gatewayPort] || DEFAULTS.gateway.listen.port);

/** The public listener: opened once, on the first table. */
let publicState: 'closed' | 'opening' | 'open' = 'closed';
let draining = false;

const publicServer = createServer(gateway.handler);
const admin = createAdminServer(
  registry,
  () => publicState === 'open' && !draining && gateway.revision() !== undefined,
);

mesh.onTable((table) => {
  gateway.update(table);
  openPublic();
});

process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

await listen(admin, identity.port, identity.host);
log.info({ host: identity.host, port: addressPort(admin) }, 'admin listener up');
const known = mesh.table();
if (known !== undefined) {
  gateway.update(known);
  openPublic();
}

function openPublic(): void {
  if (publicState !== 'closed' || draining || gateway.revision() === undefined) return;
  publicState = 'opening';
  publicServer.once('error', (err) => {
    log.error({ err, host: publicHost, port: publicPort }, 'the public listener failed; exiting');
    process.exit(1);
  });
  publicServer.listen({ host: publicHost, port: publicPort, reusePort: true }, () => {
    publicState = 'open';
    log.info(
      { host: publicHost, port: addressPort(publicServer), revision: gateway.revision() },
      'gateway listening',
    );
  });
}

async function shutdown(signal: string): Promise<void> {
  draining = true;
  gateway.drain();
  const graceMs = identity.gracePeriodMs;
  // Whatever happens below, the process is gone inside its grace period.
  setTimeout(() => process.exit(0), Math.max(0, graceMs - GATEWAY_DEFAULTS.shutdownMarginMs / 2)).unref();
  log.info({ signal, grace_ms: graceMs }, 'draining');
  const drained =
    publicState !== 'closed'
      ? await drain(publicServer, Math.max(0, graceMs - GATEWAY_DEFAULTS.shutdownMarginMs))
      : true;
  if (!drained) log.warn({ grace_ms: graceMs }, 'grace period over: cut the connections still open');
  await Promise.allSettled([gateway.close(), mesh.close()]);
  stopProcessMetrics();
  admin.closeAllConnections();
  admin.close();
  log.info({}, 'stopped');
  // Pools and timers of libraries must not hold the process past its work.
  process.exit(0);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function addressPort(server: Server): number | undefined {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : undefined;
}
