import type { RoutingTable } from '@flotilla/spec';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, startWatchServer, type TestWatchServer, tableOf } from '../test-support.ts';
import type { MeshLogger } from '../types.ts';
import { Watch, type WatchOptions } from './index.ts';

const TOKEN = 'data-plane-token';

interface Recorder extends MeshLogger {
  lines: { level: string; obj: object; msg: string }[];
  codes(): unknown[];
}

function recorder(): Recorder {
  const lines: Recorder['lines'] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    codes: () => lines.map((line) => (line.obj as { code?: unknown }).code),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(): Promise<TestWatchServer> {
  const watchServer = await startWatchServer(TOKEN);
  cleanups.push(() => watchServer.kill());
  return watchServer;
}

function follow(
  controlUrl: string,
  options: Partial<WatchOptions> = {},
): { tables: RoutingTable[]; log: Recorder; watch: Watch } {
  const tables: RoutingTable[] = [];
  const log = recorder();
  const watch = new Watch({
    controlUrl,
    token: TOKEN,
    revision: () => tables.at(-1)?.revision,
    onTable: (table) => tables.push(table),
    log,
    ...options,
  });
  cleanups.push(() => watch.close());
  return { tables, log, watch };
}

describe('Watch', () => {
  it('sends the bearer token and delivers every table event, skipping heartbeats', async () => {
    const control = await server();
    control.publish(tableOf(1, {}));
    const { tables } = follow(control.url);
    await eventually(() => tables.length === 1);
    control.write(': ping\n\n');
    control.publish(tableOf(2, {}));
    await eventually(() => tables.length === 2);
    expect(tables.map((table) => table.revision)).toEqual([1, 2]);
    expect(control.requests[0]?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(control.requests[0]?.accept).toBe('text/event-stream');
  });

  it('reconnects after the stream ends, sending the held revision as Last-Event-ID', async () => {
    const control = await server();
    control.publish(tableOf(5, {}));
    const { tables, log } = follow(control.url);
    await eventually(() => tables.length === 1);
    await control.kill();
    await control.restart();
    control.publish(tableOf(6, {}));
    await eventually(() => tables.some((table) => table.revision === 6));
    expect(control.requests.at(-1)?.['last-event-id']).toBe('5');
    expect(log.codes()).toContain('MESH_WATCH_DISCONNECTED');
    expect(log.lines.at(-1)?.level).toBe('info');
  });

  it('logs a refused token once, clearly, and retries with backoff until it is accepted', async () => {
    const control = await server();
    control.status = 401;
    control.publish(tableOf(1, {}));
    const { tables, log } = follow(control.url);
    await eventually(() => control.requests.length >= 4);
    expect(tables).toEqual([]);
    expect(log.codes()).toEqual(['MESH_WATCH_UNAUTHORIZED']);
    expect(log.lines[0]?.msg).toMatch(/refused the data-plane token.*HTTP 401/);
    // 100 ms doubling, jittered into the upper half: at least 50 + 100 + 200 ms for four attempts.
    expect(control.requests.length).toBeLessThan(8);
    control.status = 200;
    await eventually(() => tables.length === 1);
    expect(log.lines.at(-1)?.level).toBe('info');
  });

  it('reconnects when the stream goes silent past the idle timeout', async () => {
    const control = await server();
    control.publish(tableOf(1, {}));
    const { tables, log } = follow(control.url, { idleTimeoutMs: 300 });
    await eventually(() => control.requests.length >= 2);
    expect(tables.length).toBeGreaterThanOrEqual(1);
    expect(log.codes()).toContain('MESH_WATCH_IDLE');
  });

  it('keeps a stream alive on heartbeats alone', async () => {
    const control = await server();
    const { log } = follow(control.url, { idleTimeoutMs: 300 });
    await eventually(() => control.streams === 1);
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      control.write(': ping\n\n');
    }
    expect(control.requests).toHaveLength(1);
    expect(log.lines).toEqual([]);
  });

  it('reports a table event that is not a routing table and keeps following', async () => {
    const control = await server();
    const { tables, log } = follow(control.url);
    await eventually(() => control.streams === 1);
    control.write('event: table\ndata: {"revision":"x"}\n\n');
    control.publish(tableOf(3, {}));
    await eventually(() => tables.length === 1);
    expect(log.codes()).toEqual(['MESH_WATCH_BAD_EVENT']);
    expect(control.requests).toHaveLength(1);
  });

  it('stops reconnecting once closed', async () => {
    const control = await server();
    const { watch } = follow(control.url);
    await eventually(() => control.streams === 1);
    await watch.close();
    await eventually(() => control.streams === 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(control.requests).toHaveLength(1);
  });
});
