import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { CallScope } from '@flotilla/mesh';
import { HEADERS, VERSION_BAGGAGE_KEY } from '@flotilla/spec';
import { RUNTIME_DEFAULTS } from './defaults.ts';

/** A version name as flotilla.yaml allows it; anything else in a pin is ignored, not sent on. */
const VERSION = /^[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?$/;
/** One `service=version` entry of `x-flotilla-version-fallback`. */
const FALLBACK = /^[a-z0-9-]{1,63}=[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?$/;
const TIMEOUT_MS = /^\d+(?:\.\d+)?$/;
const UNSET = Symbol('unset');

/** Why a request's signal aborted, as its `reason` says it (the names of DOM's AbortSignal). */
const GONE = 'AbortError';
const DEADLINE = 'TimeoutError';

/**
 * What the runtime knows about one inbound request for the calls its handler makes: the trace
 * and baggage to carry on, the version it is pinned to, the caller's deadline and a signal that
 * aborts when the caller gives up. Everything is read from the request on first use, so a request
 * that makes no call and never looks at `ctx.signal` pays for one small object and nothing else.
 */
export class InboundScope implements CallScope {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #startedAt: number;
  /** This instance's version when the table asks for version affinity, read when the pin is. */
  readonly #affinity: () => string | undefined;
  #pin: string | undefined | typeof UNSET = UNSET;
  #deadline: number | undefined | typeof UNSET = UNSET;
  #controller: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ended: 'no' | 'answered' | 'cut' = 'no';
  #fallbacks: Set<string> | undefined;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    startedAt: number,
    affinity: () => string | undefined,
  ) {
    this.#req = req;
    this.#res = res;
    this.#startedAt = startedAt;
    this.#affinity = affinity;
  }

  get baggage(): string | undefined {
    return headerValue(this.#req.headers.baggage);
  }

  get traceparent(): string | undefined {
    return headerValue(this.#req.headers.traceparent);
  }

  get tracestate(): string | undefined {
    return headerValue(this.#req.headers.tracestate);
  }

  /** The request is a mirrored copy; only the mesh sets the header (the gateway strips a client's). */
  get mirrored(): boolean {
    return this.#req.headers[HEADERS.mirror] === '1';
  }

  /** `x-flotilla-version`, else the baggage's `flotilla-version`, else this version under affinity. */
  get pin(): string | undefined {
    if (this.#pin === UNSET) {
      const pinned = headerValue(this.#req.headers[HEADERS.version]) ?? baggageMember(this.baggage);
      this.#pin = pinned !== undefined && VERSION.test(pinned) ? pinned : this.#affinity();
    }
    return this.#pin;
  }

  /**
   * `performance.now()` at which the caller gives up: arrival plus its `x-flotilla-timeout-ms`,
   * capped, since the header is the caller's word and a huge value would keep work alive forever.
   */
  get deadline(): number | undefined {
    if (this.#deadline === UNSET) {
      const header = headerValue(this.#req.headers[HEADERS.timeout]);
      this.#deadline =
        header !== undefined && TIMEOUT_MS.test(header)
          ? this.#startedAt + Math.min(Number(header), RUNTIME_DEFAULTS.inboundTimeoutMaxMs)
          : undefined;
    }
    return this.#deadline;
  }

  /**
   * Aborts when the caller goes away before the response ends (reason: an `AbortError`) or its
   * deadline passes (a `TimeoutError`). Made on first use; never aborts once the response ended.
   */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#ended === 'cut') this.#controller.abort(goneReason());
      const { deadline } = this;
      if (this.#ended === 'no' && deadline !== undefined) {
        const controller = this.#controller;
        this.#timer = setTimeout(
          () => controller.abort(new DOMException("The caller's deadline passed.", DEADLINE)),
          Math.max(0, deadline - performance.now()),
        );
        this.#timer.unref();
      }
    }
    return this.#controller.signal;
  }

  /**
   * True once the caller's deadline has passed, whether or not the signal's own timer has fired
   * yet: a mesh call made for the request may have timed out a moment before it.
   */
  get deadlinePassed(): boolean {
    const { deadline } = this;
    if (deadline === undefined) return false;
    // A timer may fire a fraction of a millisecond before performance.now() reaches its time.
    const reason: unknown = this.#controller?.signal.reason;
    return performance.now() >= deadline || (reason instanceof DOMException && reason.name === DEADLINE);
  }

  /** True when the caller went away before the response ended. */
  get cut(): boolean {
    return this.#ended === 'cut';
  }

  fellBack(service: string, version: string): void {
    const entry = `${service}=${version}`;
    // Entries come from downstream responses too: only well-formed ones go into our header.
    if (!FALLBACK.test(entry)) return;
    this.#fallbacks ??= new Set();
    this.#fallbacks.add(entry);
    // Set on the response at once, so that it goes out however the handler answers (a reply, or
    // its own writeHead, which merges headers set before).
    if (!this.#res.headersSent) this.#res.setHeader(HEADERS.versionFallback, [...this.#fallbacks].join(','));
  }

  /** The response closed: `answered` when it was sent in full, else the caller went away first. */
  end(answered: boolean): void {
    if (this.#ended !== 'no') return;
    this.#ended = answered ? 'answered' : 'cut';
    clearTimeout(this.#timer);
    if (!answered) this.#controller?.abort(goneReason());
  }
}

function goneReason(): DOMException {
  return new DOMException('The caller went away before the response was sent.', GONE);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The value of the version member of a W3C baggage header (`a=1,flotilla-version=v2;prop`). */
function baggageMember(baggage: string | undefined): string | undefined {
  if (baggage === undefined || !baggage.includes(VERSION_BAGGAGE_KEY)) return undefined;
  for (const member of baggage.split(',')) {
    const eq = member.indexOf('=');
    if (eq === -1 || member.slice(0, eq).trim() !== VERSION_BAGGAGE_KEY) continue;
    const semicolon = member.indexOf(';', eq);
    const raw = member.slice(eq + 1, semicolon === -1 ? undefined : semicolon).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
