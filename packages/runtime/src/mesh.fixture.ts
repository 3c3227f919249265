import { randomUUID, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestCa as createMeshTestCa, testCertificate } from '@flotilla/mesh/testing';
import {
  CONTROL_PATHS,
  type Endpoint,
  type MeshTable,
  PLAINTEXT_MESH,
  type RoutingTable,
  type ServiceRoutes,
  serviceRoutesOf,
  type WorkloadIdentity,
} from '@flotilla/spec';

/**
 * Stand-ins for the control plane in the runtime's tests: its watch stream and its certificate
 * endpoint, on 127.0.0.1 port 0, plus a tiny CA. The real ones live in the control plane and are
 * tested there; these keep to the same contracts.
 */

const HOUR_MS = 3_600_000;

/** A root that issues workload certificates valid for an hour. */
export interface TestCa {
  readonly root: string;
  /** A leaf naming `identity` for the SPKI PEM `publicKey`. */
  issue(publicKey: string, identity: WorkloadIdentity): Promise<string>;
  /** A fresh key and a leaf naming `identity`, for a TLS client. */
  credentials(identity: WorkloadIdentity): Promise<{ key: string; cert: string }>;
}

/** A self-signed P-256 root named `name`: the mesh's test CA. */
export async function createTestCa(name: string): Promise<TestCa> {
  const ca = await createMeshTestCa(name);
  return {
    root: ca.root,
    issue: (publicKey, identity) => ca.issue(publicKey, identity, HOUR_MS),
    credentials: (identity) => testCertificate(ca, identity, HOUR_MS),
  };
}

/** The control plane as a service under test sees it. */
export interface TestControlPlane {
  readonly url: string;
  readonly ca: TestCa;
  /** Certificate requests answered, by the instance they were for. */
  readonly issued: string[];
  /**
   * The environment of an instance of `service` at `version`: the control URL, the data-plane
   * token and an instance token the certificate endpoint knows.
   */
  env(service: string, version: string): Record<string, string>;
  /** Sends `table` (revision increased) to every watch stream, and to every later one. */
  publish(services: Record<string, ServiceRoutes>, mesh?: Partial<MeshTable>): RoutingTable;
  close(): Promise<void>;
}

const SYSTEM = 'local';
const DATA_PLANE_TOKEN = 'dp-token';

/** Starts the watch stream and the certificate endpoint; `mesh.trustBundle` defaults to the CA's root. */
export async function startTestControlPlane(): Promise<TestControlPlane> {
  const ca = await createTestCa('flotilla-test');
  const instances = new Map<string, WorkloadIdentity & { id: string }>();
  const streams = new Set<ServerResponse>();
  const issued: string[] = [];
  let table: RoutingTable | undefined;
  const send = (res: ServerResponse) => {
    if (table) res.write(`event: table\nid: ${table.revision}\ndata: ${JSON.stringify(table)}\n\n`);
  };

  const certificate = async (req: IncomingMessage, res: ServerResponse) => {
    const token = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
    const identity = instances.get(token);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (!identity) return reply(res, 401, { error: { code: 'UNAUTHORIZED', message: 'unknown token' } });
    // As the real control plane: under mtls: disable it runs no CA.
    if (table?.mesh.mtls === 'disable')
      return reply(res, 404, { error: { code: 'NOT_FOUND', message: 'no CA' } });
    const { publicKey } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { publicKey: string };
    const leaf = await ca.issue(publicKey, identity);
    issued.push(identity.id);
    reply(res, 200, {
      certificate: leaf,
      chain: leaf,
      notAfter: new X509Certificate(leaf).validToDate.toISOString(),
    });
  };

  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === CONTROL_PATHS.certificate) {
      certificate(req, res).catch((err: Error) => res.destroy(err));
      return;
    }
    if (req.url !== CONTROL_PATHS.watch || req.headers.authorization !== `Bearer ${DATA_PLANE_TOKEN}`) {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    streams.add(res);
    res.on('close', () => streams.delete(res));
    send(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    ca,
    issued,
    env(service, version) {
      const token = randomUUID();
      const id = `${service}-${version}-${instances.size + 1}`;
      instances.set(token, { system: SYSTEM, service, version, id });
      return {
        FLOTILLA_SYSTEM: SYSTEM,
        FLOTILLA_SERVICE: service,
        FLOTILLA_VERSION: version,
        FLOTILLA_INSTANCE: id,
        FLOTILLA_CONTROL_URL: url,
        FLOTILLA_DATAPLANE_TOKEN: DATA_PLANE_TOKEN,
        FLOTILLA_INSTANCE_TOKEN: token,
      };
    },
    publish(services, mesh = {}) {
      table = {
        revision: (table?.revision ?? 0) + 1,
        system: SYSTEM,
        services,
        gateway: { listen: { host: '127.0.0.1', port: 0 }, replicas: 1, plugins: {}, routes: [] },
        mesh: {
          ...PLAINTEXT_MESH,
          trustBundle: mesh.mtls && mesh.mtls !== 'disable' ? [ca.root] : [],
          ...mesh,
        },
      };
      for (const res of streams) send(res);
      return table;
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** The routes of a service with one ready endpoint per `version: port`, weights as given (100 for one). */
export function routesOf(
  service: string,
  ports: Record<string, number>,
  options: { weights?: Record<string, number> } & Partial<ServiceRoutes> = {},
): ServiceRoutes {
  const { weights, ...rest } = options;
  const names = Object.keys(ports);
  const versions = Object.fromEntries(
    names.map((v) => [v, { weight: weights?.[v] ?? (names.length === 1 ? 100 : 0), labels: {} }]),
  );
  const endpoints: Endpoint[] = names.map((version) => ({
    id: `${service}-${version}-1`,
    service,
    version,
    host: '127.0.0.1',
    port: ports[version]!,
    // Instances on the runtime hold a certificate under mutual TLS, and the table says so.
    mtls: true,
  }));
  return serviceRoutesOf({ versions, endpoints, ...rest });
}

function reply(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
