import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { peerIdentity } from '@flotilla/mesh';
import { HEADERS, type WorkloadIdentity } from '@flotilla/spec';
import type { Logger } from 'pino';
import { GATEWAY_WORKLOAD } from './authorization.ts';
import { InboundScope } from './call-scope.ts';
import { RUNTIME_DEFAULTS } from './defaults.ts';
import type { InferOutput, StandardSchema } from './validation.ts';

/**
 * Who is calling, as the gateway vouched for it after verifying a token. Under mutual TLS the
 * gateway's word is taken only from the gateway: from any other workload the identity headers are
 * ignored and the caller is anonymous, so that a compromised service cannot act as a user.
 */
export interface Caller {
  /** The token's subject; undefined for anonymous calls. */
  subject: string | undefined;
  roles: string[];
}

/** What a handler gets: the request, its parsed parts and a logger bound to it. */
export interface RequestContext<P = Record<string, string>, B = unknown, Q = URLSearchParams> {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Path parameters, decoded. */
  readonly params: P;
  /** The query string, or the query schema's output when the route has one. */
  readonly query: Q;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body (undefined when none was sent), or the body schema's output. */
  readonly body: B;
  /** A child of the service logger with `request_id` and, when the caller sent one, `trace_id`. */
  readonly log: Logger;
  readonly caller: Caller;
  readonly requestId: string;
  /** Trace id of the W3C `traceparent` header, when present and valid. */
  readonly traceId: string | undefined;
  /**
   * Aborts when the caller goes away before the response is sent, or when its deadline (the
   * `x-flotilla-timeout-ms` it sent) passes: pass it to queries and calls, or check it between
   * steps, to stop work nobody waits for. Calls through `service.mesh` made while handling the
   * request follow it on their own. Once the response is sent it no longer aborts.
   */
  readonly signal: AbortSignal;
}

/**
 * A route handler. A returned value answers 200 with it as JSON, `reply()` answers with another
 * status, `undefined` answers 204, and a handler that wrote to `ctx.res` itself is left alone.
 */
export type Handler<P = Record<string, string>, B = unknown, Q = URLSearchParams> = (
  ctx: RequestContext<P, B, Q>,
) => unknown;

/** Validation of a route's input. */
export interface RouteOptions<
  B extends StandardSchema | undefined = undefined,
  Q extends StandardSchema | undefined = undefined,
> {
  /** Schema of the JSON body; failing bodies get 400 VALIDATION_FAILED. */
  body?: B;
  /** Schema of the query, given as an object of strings (arrays for repeated keys). */
  query?: Q;
}

/** What `ctx.body` is for a route with options `B`. */
export type BodyOf<B> = B extends StandardSchema ? InferOutput<B> : unknown;
/** What `ctx.query` is for a route with options `Q`. */
export type QueryOf<Q> = Q extends StandardSchema ? InferOutput<Q> : URLSearchParams;

type ParamNames<P extends string> = P extends `${string}:${infer Rest}`
  ? Rest extends `${infer Name}/${infer Tail}`
    ? Name | ParamNames<Tail>
    : Rest
  : never;

/** The params object of a path pattern: `/orders/:id` gives `{ id: string }`. */
export type RouteParams<P extends string> = string extends P
  ? Record<string, string>
  : { [K in ParamNames<P>]: string };

const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;
const REQUEST_ID = /^[\x21-\x7e]+$/;

/**
 * The per-request state behind RequestContext. What a handler may never read (its logger, the
 * caller, the query) is built on first access, to keep requests that do not need it cheap.
 */
export class Context implements RequestContext<Record<string, string>, unknown, unknown> {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly traceId: string | undefined;
  /** Raw path, without the query string. */
  readonly path: string;
  readonly search: string;
  /** `performance.now()` when the request arrived. */
  readonly startedAt: number;
  /** What calls made for this request carry on: trace, pin, deadline, cancellation. */
  readonly scope: InboundScope;
  /** Whether the request came over mutual TLS. */
  readonly secure: boolean;
  /** The calling workload, from its verified certificate; undefined for plaintext. */
  readonly peer: WorkloadIdentity | undefined;
  params: Record<string, string> = NO_PARAMS;
  body: unknown;
  #query: unknown;
  #log: Logger | undefined;
  #caller: Caller | undefined;
  readonly #serviceLog: Logger;
  /**
   * Whether identity headers on a plaintext connection are believed: only where the mesh has no
   * mutual TLS (`mtls: disable`, or outside Flotilla). Where it has, the gateway always calls over
   * mutual TLS, so a plaintext caller claiming a user is anyone on the machine.
   */
  trustsPlaintext = true;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    serviceLog: Logger,
    startedAt: number,
    affinity: () => string | undefined,
  ) {
    this.req = req;
    this.res = res;
    this.startedAt = startedAt;
    this.scope = new InboundScope(req, res, startedAt, affinity);
    this.secure = (req.socket as Partial<TLSSocket>).encrypted === true;
    this.peer = this.secure ? peerIdentity(req.socket as TLSSocket) : undefined;
    this.#serviceLog = serviceLog;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.path = q === -1 ? url : url.slice(0, q);
    this.search = q === -1 ? '' : url.slice(q + 1);
    this.requestId = requestIdOf(req.headers[HEADERS.requestId]);
    this.traceId = traceIdOf(req.headers.traceparent);
  }

  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }

  get signal(): AbortSignal {
    return this.scope.signal;
  }

  get query(): unknown {
    this.#query ??= new URLSearchParams(this.search);
    return this.#query;
  }

  set query(value: unknown) {
    this.#query = value;
  }

  get log(): Logger {
    this.#log ??= this.#serviceLog.child(
      this.traceId ? { request_id: this.requestId, trace_id: this.traceId } : { request_id: this.requestId },
    );
    return this.#log;
  }

  get caller(): Caller {
    if (!this.#caller) {
      const vouched = this.secure ? this.peer?.service === GATEWAY_WORKLOAD : this.trustsPlaintext;
      const subject = vouched ? this.req.headers[HEADERS.subject] : undefined;
      const roles = vouched ? this.req.headers[HEADERS.roles] : undefined;
      this.#caller = {
        subject: typeof subject === 'string' && subject !== '' ? subject : undefined,
        roles:
          typeof roles === 'string'
            ? roles
                .split(',')
                .map((r) => r.trim())
                .filter((r) => r !== '')
            : [],
      };
    }
    return this.#caller;
  }

  /** The query as an object for a query schema: one string per key, an array for repeated keys. */
  queryObject(): Record<string, string | string[]> {
    const entries = new Map<string, string | string[]>();
    for (const [key, value] of new URLSearchParams(this.search)) {
      const prev = entries.get(key);
      entries.set(key, prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]);
    }
    // fromEntries defines own properties, so a `__proto__` key stays a plain key.
    return Object.fromEntries(entries);
  }
}

/** The caller's request id when it is safe to echo into headers and logs, else a new one. */
function requestIdOf(header: string | string[] | undefined): string {
  if (
    typeof header === 'string' &&
    header.length <= RUNTIME_DEFAULTS.requestIdMaxLength &&
    REQUEST_ID.test(header)
  ) {
    return header;
  }
  return randomUUID();
}

/** The trace id of a W3C traceparent header; an all-zero id is invalid by the spec. */
function traceIdOf(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (!match || /^0+$/.test(match[1]!)) return undefined;
  return match[1];
}
