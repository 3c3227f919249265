import { type IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { InboundScope } from './call-scope.ts';
import { createService, type Service } from './service.ts';

const quiet = { write: () => undefined };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A scope for a request with these headers, arrived at `startedAt`, with `affinity` as the own version. */
function scopeOf(
  headers: Record<string, string>,
  options: { startedAt?: number; affinity?: string; res?: ServerResponse } = {},
) {
  const req = { headers } as unknown as IncomingMessage;
  const res = options.res ?? new ServerResponse(req);
  return new InboundScope(req, res, options.startedAt ?? performance.now(), () => options.affinity);
}

describe('InboundScope', () => {
  it('pins to x-flotilla-version, else to the baggage member, else to its own version under affinity', () => {
    const baggage = 'user=alice, flotilla-version = v3 ;ttl=1,other=x';
    expect(scopeOf({ 'x-flotilla-version': 'v2', baggage }, { affinity: 'v1' }).pin).toBe('v2');
    expect(scopeOf({ baggage }, { affinity: 'v1' }).pin).toBe('v3');
    expect(scopeOf({ baggage: 'user=alice' }, { affinity: 'v1' }).pin).toBe('v1');
    expect(scopeOf({}).pin).toBeUndefined();
  });

  it('ignores a pin that is no version name, rather than sending it on', () => {
    expect(scopeOf({ 'x-flotilla-version': 'v2\r\nx: y' }).pin).toBeUndefined();
    expect(scopeOf({ baggage: 'flotilla-version=%ZZ' }, { affinity: 'v1' }).pin).toBe('v1');
  });

  it("takes the deadline as arrival plus the caller's time left, capped at an hour, ignoring what is no number", () => {
    const at = 1_000;
    const deadline = (value: string) =>
      scopeOf({ 'x-flotilla-timeout-ms': value }, { startedAt: at }).deadline;
    expect(deadline('250')).toBe(1_250);
    expect(deadline('0')).toBe(1_000);
    expect(deadline('12.5')).toBe(1_012.5);
    expect(deadline('99999999999')).toBe(at + 3_600_000);
    for (const bad of ['-5', 'soon', '1e3', '', ' 10']) expect(deadline(bad)).toBeUndefined();
    expect(scopeOf({}).deadline).toBeUndefined();
  });

  it('aborts its signal at the deadline with a TimeoutError, and never once the response was sent', async () => {
    const late = scopeOf({ 'x-flotilla-timeout-ms': '30' });
    const { signal } = late;
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    expect(signal.reason).toMatchObject({ name: 'TimeoutError' });
    expect(late.deadlinePassed).toBe(true);
    // Known from the time alone, before any signal timer ran: a mesh call's own may fire first.
    const unwatched = scopeOf({ 'x-flotilla-timeout-ms': '5' });
    expect(unwatched.deadlinePassed).toBe(false);
    await sleep(10);
    expect(unwatched.deadlinePassed).toBe(true);

    const answered = scopeOf({ 'x-flotilla-timeout-ms': '30' });
    const quietSignal = answered.signal;
    answered.end(true);
    await sleep(60);
    expect(quietSignal.aborted).toBe(false);
  });

  it('aborts its signal with an AbortError when the caller goes away, even one asked for afterwards', () => {
    const early = scopeOf({});
    const { signal } = early;
    early.end(false);
    expect(signal.reason).toMatchObject({ name: 'AbortError' });
    expect(early.cut).toBe(true);
    const after = scopeOf({});
    after.end(false);
    expect(after.signal.aborted).toBe(true);
  });

  it('names each hop that fell back once, in order, on the response, and drops entries that are not service=version', () => {
    const res = new ServerResponse({ headers: {} } as IncomingMessage);
    const scope = scopeOf({}, { res });
    expect(res.getHeader('x-flotilla-version-fallback')).toBeUndefined();
    scope.fellBack('b', 'v1');
    scope.fellBack('c', 'v1');
    scope.fellBack('b', 'v1');
    scope.fellBack('d', 'v1\r\nset-cookie: x');
    scope.fellBack('', 'v1');
    expect(res.getHeader('x-flotilla-version-fallback')).toBe('b=v1,c=v1');
  });
});

describe('ctx.signal', () => {
  async function started(setup: (service: Service) => void): Promise<Service> {
    const service = createService({ name: 'worker', env: { PORT: '0' }, logDestination: quiet });
    setup(service);
    cleanups.push(() => service.stop());
    await service.start();
    return service;
  }

  it('aborts when the client disconnects before the response, so the handler can stop', async () => {
    let seen: (reason: unknown) => void = () => undefined;
    const aborted = new Promise<unknown>((resolve) => {
      seen = resolve;
    });
    let began: () => void = () => undefined;
    const handling = new Promise<void>((resolve) => {
      began = resolve;
    });
    const service = await started((s) =>
      s.get('/long', async (ctx) => {
        ctx.signal.addEventListener('abort', () => seen(ctx.signal.reason));
        began();
        await sleep(10_000, undefined, { signal: ctx.signal }).catch(() => undefined);
        return { done: true };
      }),
    );
    const socket = connect(service.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write('GET /long HTTP/1.1\r\nhost: worker\r\n\r\n');
    await handling;
    socket.destroy();
    expect(await aborted).toMatchObject({ name: 'AbortError' });
  });

  it("aborts at the caller's deadline, and a handler failing on it answers 504 DEADLINE_EXCEEDED", async () => {
    const service = await started((s) =>
      s.get('/long', async (ctx) => {
        await sleep(10_000, undefined, { signal: ctx.signal });
        return { done: true };
      }),
    );
    const before = performance.now();
    const res = await fetch(`http://127.0.0.1:${service.port}/long`, {
      headers: { 'x-flotilla-timeout-ms': '100' },
    });
    expect(performance.now() - before).toBeLessThan(2_000);
    expect(res.status).toBe(504);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('DEADLINE_EXCEEDED');
  });
});
