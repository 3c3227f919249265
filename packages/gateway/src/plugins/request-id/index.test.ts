import { HEADERS } from '@flotilla/spec';
import { describe, expect, it } from 'vitest';
import { createTestContext, createTestDeps, runRequest } from '../test-context.ts';
import { requestId } from './index.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const plugin = requestId({}, createTestDeps());

async function idFor(sent?: string) {
  const ctx = createTestContext({ headers: sent === undefined ? {} : { [HEADERS.requestId]: sent } });
  await runRequest(plugin, ctx);
  expect(ctx.upstreamHeaders[HEADERS.requestId]).toBe(ctx.requestId);
  expect(ctx.responseHeaders[HEADERS.requestId]).toBe(ctx.requestId);
  return ctx.requestId;
}

describe('requestId', () => {
  it('keeps a sane client id and sends it upstream and back', async () => {
    expect(await idFor('abc.DEF_123-xyz')).toBe('abc.DEF_123-xyz');
  });

  it('keeps a client id of exactly 128 characters', async () => {
    const id = 'a'.repeat(128);
    expect(await idFor(id)).toBe(id);
  });

  it('creates a UUID when the client sends none', async () => {
    expect(await idFor()).toMatch(UUID);
  });

  it.each([
    ['longer than 128 characters', 'a'.repeat(129)],
    ['empty', ''],
    ['with spaces', 'a b'],
    ['with a comma from two headers joined', 'a, b'],
    ['with non-ASCII letters', 'idé'],
    ['with a quote and angle brackets', '"<script>"'],
  ])('replaces a client id %s with a new UUID', async (_, sent) => {
    expect(await idFor(sent)).toMatch(UUID);
  });

  it('gives two requests without an id two different ids', async () => {
    expect(await idFor()).not.toBe(await idFor());
  });
});
