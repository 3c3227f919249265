import { describe, expect, it } from 'vitest';
import { createEnvelope, parseEnvelope } from './envelope.ts';
import { resolveEventsOptions } from './options.ts';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('createEnvelope', () => {
  it('makes a CloudEvents 1.0 envelope with a UUID, the time and the trace context', () => {
    const envelope = createEnvelope(
      {
        type: 'order.paid',
        source: '/shop/orders',
        data: { id: 1 },
        traceparent: TRACEPARENT,
        tracestate: 'a=1',
      },
      new Date('2030-01-01T00:00:00Z'),
    );
    expect(envelope).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      type: 'order.paid',
      source: '/shop/orders',
      time: '2030-01-01T00:00:00.000Z',
      datacontenttype: 'application/json',
      data: { id: 1 },
      traceparent: TRACEPARENT,
      tracestate: 'a=1',
    });
    expect(parseEnvelope(JSON.parse(JSON.stringify(envelope)))).toEqual(envelope);
  });

  it('holds the data as consumers will see it, after JSON', () => {
    const envelope = createEnvelope({
      type: 'user.created',
      source: '/s/u',
      data: { at: new Date(0), gone: undefined },
    });
    expect(envelope.data).toEqual({ at: '1970-01-01T00:00:00.000Z' });
  });

  it.each(['order', 'Order.paid', 'order..paid', 'order.paid.', '1order.paid', ''])(
    'refuses the event type %j',
    (type) => {
      expect(() => createEnvelope({ type, source: '/s/o', data: {} })).toThrow(
        expect.objectContaining({ code: 'EVENTS_TYPE_INVALID' }),
      );
    },
  );

  it.each([
    ['a BigInt', { n: 1n }],
    [
      'a cycle',
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      })(),
    ],
    ['undefined', undefined],
    ['a NUL character, which jsonb refuses', { s: 'a\u0000b' }],
  ])('refuses data holding %s', (_, data) => {
    expect(() => createEnvelope({ type: 'order.paid', source: '/s/o', data })).toThrow(
      expect.objectContaining({ code: 'EVENTS_DATA_INVALID' }),
    );
  });

  it('drops a malformed traceparent, and its tracestate, instead of failing the producer', () => {
    const envelope = createEnvelope({
      type: 'order.paid',
      source: '/s/o',
      data: {},
      traceparent: 'not-a-trace',
      tracestate: 'a=1',
    });
    expect(envelope).not.toHaveProperty('traceparent');
    expect(envelope).not.toHaveProperty('tracestate');
  });
});

describe('parseEnvelope', () => {
  const valid = createEnvelope({ type: 'order.paid', source: '/s/o', data: null });
  const { data: _data, ...withoutData } = valid;

  it.each([
    ['not an object', 'hello', /expected a JSON object/],
    ['another specversion', { ...valid, specversion: '0.3' }, /specversion/],
    ['an id that is not a UUID', { ...valid, id: '42' }, /id is not a UUID/],
    ['a bad type', { ...valid, type: 'Paid' }, /type/],
    ['no data', withoutData, /data is missing/],
  ])('refuses %s, saying what is wrong', (_, body, message) => {
    expect(() => parseEnvelope(body)).toThrow(message);
  });

  it('accepts null data, which is data', () => {
    expect(parseEnvelope(valid)).toBe(valid);
  });
});

describe('resolveEventsOptions', () => {
  it('fills in the defaults and freezes the result', () => {
    const options = resolveEventsOptions({ retry: { maxAttempts: 3 } });
    expect(options).toEqual({
      retry: { maxAttempts: 3, initialDelayMs: 250, maxDelayMs: 30_000 },
      prefetch: 4,
    });
    expect(Object.isFrozen(options.retry)).toBe(true);
  });

  it.each([
    [{ retry: { maxAttempts: 0 } }, /retry.maxAttempts must be a whole number >= 1/],
    [{ retry: { initialDelayMs: 500, maxDelayMs: 100 } }, /retry.maxDelayMs must be a whole number >= 500/],
    [{ retry: { maxDelayMs: 7_200_000 } }, /at most 3600000/],
    [{ prefetch: 1.5 }, /prefetch/],
  ])('refuses %j', (options, message) => {
    expect(() => resolveEventsOptions(options)).toThrow(message);
  });
});
