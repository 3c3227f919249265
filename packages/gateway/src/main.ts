import type { Server } from 'node:http';
import { CertificateError, CertificateSource, createMeshClient } from '@flotilla/mesh';
import { collectProcessMetrics, createLogger, Registry } from '@flotilla/runtime';
import { DEFAULTS, ENV, type RoutingTable, readInstanceEnv } from '@flotilla/spec';
import { createAdminServer } from './admin-server.ts';
import { GATEWAY_DEFAULTS } from './defaults.ts';
import { drain } from './drain.ts';
import { createEdgeServer } from './edge-server.ts';
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
const instanceToken = process.env[ENV.instanceToken] || undefined;
// It gets certificates in the gateway's name: no child process inherits it.
delete process.env[ENV.instanceToken];
const mesh = createMeshClient({
  source: { workload: GATEWAY_DEFAULTS.workload, version: identity.version },
  controlUrl: identity.controlUrl,
  token: identity.dataPlaneToken,
  log,
  // Ejections the gateway's outlier detection makes show in `flotilla status`.
  instance: instanceToken === undefined ? undefined : { id: identity.instance, token: instanceToken },
});
const gateway = createGateway({ mesh, log, metrics: new GatewayMetrics(registry, identity.version) });
const publicHost = process.env[ENV.gatewayHost] || DEFAULTS.gateway.listen.host;
const publicPort = Number(process.env[ENV.gatewayPort] || DEFAULTS.gateway.listen.port);

/** The public listener: opened once, on the first table (and the certificate it asks for). */
let publicState: 'closed' | 'opening' | 'open' = 'closed';
let draining = false;
let certificate: 'none' | 'requesting' | CertificateSource = 'none';

const publicServer = createEdgeServer(gateway.handler);
const admin = createAdminServer(registry, notReady);

mesh.onTable(onTable);

process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

await listen(admin, identity.port, identity.host);
log.info({ host: identity.host, port: addressPort(admin) }, 'admin listener up');
// Asked for at once, beside the wait for the first table: a control plane without a CA answers 404.
if (instanceToken && identity.controlUrl) void requestCertificate(identity.controlUrl, instanceToken, true);
const known = mesh.table();
if (known !== undefined) onTable(known);

function onTable(table: RoutingTable): void {
  gateway.update(table);
  if (table.mesh.mtls !== 'disable' && certificate === 'none' && instanceToken && identity.controlUrl) {
    void requestCertificate(identity.controlUrl, instanceToken);
  }
  openPublic();
}

/**
 * Gets the gateway's workload certificate, which services under `mtls: strict` require of it.
 * The public listener waits for it: a request forwarded in plaintext would be refused. Asked for
 * before the first table (`early`), a 404 means the system runs no CA (`mtls: disable`).
 */
async function requestCertificate(controlUrl: string, token: string, early = false): Promise<void> {
  certificate = 'requesting';
  try {
    const source = await CertificateSource.start({ controlUrl, instanceToken: token, log });
    certificate = source;
    mesh.setCertificate(source);
    log.info({ identity: source.identity, not_after: source.notAfter }, 'workload certificate received');
  } catch (err) {
    if (!(early && err instanceof CertificateError && err.statusCode === 404)) {
      log.error(
        { err },
        'no workload certificate: the control plane refused or is away; exiting to be restarted',
      );
      process.exit(1);
    }
    certificate = 'none';
  }
  openPublic();
}

/**
 * What keeps this replica from taking traffic. Besides the listener and the table, the routes'
 * plugins must be able to work: a jwt plugin that has never fetched its JWKS could only answer
 * 503, so the replica is not counted ready (nor `flotilla up` done) before it has the keys.
 */
function notReady(): string[] {
  if (draining) return ['draining'];
  if (gateway.revision() === undefined) return ['no routing table yet'];
  if (publicState !== 'open') return ['the public listener is not open yet'];
  return gateway.notReady();
}

function openPublic(): void {
  if (publicState !== 'closed' || draining || gateway.revision() === undefined) return;
  if (certificate === 'requesting') return;
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
  await Promise.allSettled([
    gateway.close(),
    mesh.close(),
    typeof certificate === 'object' ? certificate.close() : undefined,
  ]);
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
