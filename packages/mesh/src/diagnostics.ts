import diagnosticsChannel from 'node:diagnostics_channel';

/** The diagnostics channel that gets one message per finished mesh call. */
export const MESH_REQUEST_CHANNEL = 'flotilla:mesh:request';

/**
 * One finished call, with what Istio's standard request metrics need. The mesh publishes it and
 * imports no metrics library; the runtime and the gateway subscribe and count.
 */
export interface MeshRequestMessage {
  sourceWorkload: string;
  sourceVersion: string;
  destinationService: string;
  /** `unknown` when no endpoint was chosen (unknown service, no ready endpoint). */
  destinationVersion: string;
  /** `unknown` when no endpoint was chosen. */
  endpointId: string;
  method: string;
  /** 0 when no response arrived. */
  statusCode: number;
  /** Envoy's response flags (`UF`, `UT`, `DC`, `UO`, `FI`, `DI,UT`, ...), `-` when none. */
  responseFlags: string;
  durationMs: number;
  /** `mutual_tls` when the last attempt went over mutual TLS. */
  connectionSecurityPolicy: 'mutual_tls' | 'none';
  /** Attempts after the first. */
  retries: number;
}

/** The channel object, looked up once: publishing is a property check when nobody subscribes. */
export const meshRequestChannel = diagnosticsChannel.channel(MESH_REQUEST_CHANNEL);
