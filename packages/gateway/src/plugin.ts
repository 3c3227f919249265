import type { IncomingMessage } from 'node:http';
import type { RouteSpec } from '@flotilla/spec';

/** Per-request state that plugins read and write. Created by the gateway core for every request. */
export interface GatewayContext {
  readonly req: IncomingMessage;
  readonly route: RouteSpec;
  /** Path and query as received. */
  readonly url: string;
  /** Remote address of the client socket (the gateway trusts no forwarding header by default). */
  readonly clientIp: string;
  requestId: string;
  /** Set by the jwt plugin once a token is verified; the core sends them upstream as HEADERS.subject/roles. */
  subject: string | undefined;
  roles: string[];
  /** Headers sent upstream: a copy of the client's, hop-by-hop and identity headers removed. */
  upstreamHeaders: Record<string, string | string[]>;
  /** Headers added to whatever response the client gets (upstream answer, error or plugin reply). */
  responseHeaders: Record<string, string>;
  /** Largest request body the core forwards; it answers 413 once more arrives. Unlimited when undefined. */
  maxBodyBytes: number | undefined;
}

/** An answer a plugin gives instead of calling the upstream (a CORS preflight, say). */
export interface PluginReply {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A gateway plugin. Built once per routing-table revision and route from its validated config
 * (work that depends only on options happens in the factory, not per request).
 */
export interface Plugin {
  readonly name: string;
  /**
   * Runs before the upstream call, in plugin order. Throw a GatewayError to answer with an error,
   * or return a reply to answer without calling the upstream.
   */
  onRequest?(ctx: GatewayContext): void | PluginReply | Promise<void | PluginReply>;
  /** Runs before response headers go to the client (upstream answer, error or reply); may edit them. */
  onResponse?(ctx: GatewayContext, statusCode: number, headers: Record<string, string | string[]>): void;
  /** Why the plugin cannot handle requests yet (no keys to verify tokens, say); undefined once it can. */
  notReady?(): string | undefined;
  /** Releases resources (timers, connections) when the plugin is replaced or the gateway stops. */
  close?(): Promise<void>;
}

/** What a plugin factory may use besides its config. */
export interface PluginDeps {
  /** Fetches a URL through the mesh when its host is a service name, directly otherwise. */
  fetchJson(url: string, timeoutMs: number): Promise<unknown>;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** Injectable clock for tests. */
  now(): number;
}

/** Builds a plugin from its config. */
export type PluginFactory<Config> = (config: Config, deps: PluginDeps) => Plugin;
