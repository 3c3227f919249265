/**
 * Headers with a meaning across the platform. The gateway sets the identity headers after it
 * verifies a token and strips them from every client request, so a service behind the gateway
 * can trust them and a client cannot forge them.
 */
export const HEADERS = {
  subject: 'x-flotilla-subject',
  roles: 'x-flotilla-roles',
  requestId: 'x-request-id',
  /** Pins a request to a version end to end (`x-flotilla-version: v2`); carried on as baggage. */
  version: 'x-flotilla-version',
  /** The time left before the caller gives up, in ms; the callee's deadline. */
  timeout: 'x-flotilla-timeout-ms',
  /** On a response: the hops where the pinned version did not exist (`b=v1`, comma-separated). */
  versionFallback: 'x-flotilla-version-fallback',
  /** On a mirrored copy of a request (`mirror` in a traffic rule); its answer is dropped. */
  mirror: 'x-flotilla-mirror',
  /** On a 503: the destination refused for local overload; callers must not retry it. */
  overloaded: 'x-flotilla-overloaded',
} as const;

/** The W3C baggage member that carries a version pin from hop to hop. */
export const VERSION_BAGGAGE_KEY = 'flotilla-version';
