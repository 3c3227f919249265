import type { GatewaySpec } from './schema.ts';

/**
 * The routing table: what the control plane pushes to the data plane (gateway and mesh clients)
 * over the watch stream. It is the local stand-in for Envoy's xDS. Every change gets a higher
 * `revision`; a data-plane process keeps the last table it received, so traffic keeps flowing
 * while the control plane is away.
 */
export interface RoutingTable {
  /** Increases by at least one on every change. */
  revision: number;
  system: string;
  services: Record<string, ServiceRoutes>;
  gateway: GatewaySpec;
}

export interface ServiceRoutes {
  /** Versions with their traffic weight (percent) and labels. */
  versions: Record<string, { weight: number; labels: Record<string, string> }>;
  /** Ready endpoints only. An instance that is starting, unready or stopping is not listed. */
  endpoints: Endpoint[];
}

export interface Endpoint {
  /** Instance id, unique within the system (`orders-v1-3`). */
  id: string;
  service: string;
  version: string;
  host: string;
  port: number;
}

/** Paths of the control plane's data-plane API (data-plane token) and admin API (admin token). */
export const CONTROL_PATHS = {
  /** Server-sent events: `event: table`, `id: <revision>`, `data: <RoutingTable JSON>`. */
  watch: '/v1/watch',
  /** The current table as JSON. */
  table: '/v1/table',
  status: '/v1/status',
  scale: '/v1/services/:service/scale',
  logs: '/v1/services/:service/logs',
  shutdown: '/v1/shutdown',
  /** Mail the SMTP sink received, newest first (`?to=&limit=`). */
  mail: '/v1/mail',
  mailMessage: '/v1/mail/:id',
  /** Events the consuming services gave up on, oldest first (`?service=&limit=`). */
  deadLetters: '/v1/dead-letters',
  /** Sends dead letters back to their subscriptions: `{"service", "ids": [...]}` or `{"service", "all": true}`. */
  deadLettersReplay: '/v1/dead-letters/replay',
} as const;
