import { ENV } from '@flotilla/spec';
import { afterEach, describe, expect, it } from 'vitest';
import { InstanceTokenRegistry } from '../identity/index.ts';
import { get, type Harness, harness, testWorkload } from './fixtures/harness.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const tokenOf = async (port: number) =>
  (JSON.parse((await get(port, '/env')).body) as Record<string, string>)[ENV.instanceToken]!;

describe('Supervisor instance tokens', () => {
  it('gives each process its own token, valid while it runs, revoked when it exits, and a new one after a restart', async () => {
    const tokens = new InstanceTokenRegistry();
    h = harness([testWorkload('api', 'service', { replicas: 2 })], { tokens });
    await h.supervisor.start();
    const [first, second] = await Promise.all(
      ['api-v1-1', 'api-v1-2'].map((id) => tokenOf(h!.current(id).port)),
    );
    expect(first).not.toBe(second);
    expect(tokens.holder(first!)).toEqual({ id: 'api-v1-1', service: 'api', version: 'v1' });
    expect(tokens.holder(second!)).toEqual({ id: 'api-v1-2', service: 'api', version: 'v1' });

    process.kill(h.current('api-v1-2').pid!, 'SIGKILL');
    await expect.poll(() => h!.current('api-v1-2').state, { timeout: 5_000 }).toBe('crashloop');
    expect(tokens.holder(second!)).toBeUndefined();
    expect(tokens.liveIds()).toEqual(new Set(['api-v1-1']));
    await expect.poll(() => h!.current('api-v1-2').state, { timeout: 10_000 }).toBe('ready');
    const renewed = await tokenOf(h.current('api-v1-2').port);
    expect(renewed).not.toBe(second);
    expect(tokens.holder(renewed)?.id).toBe('api-v1-2');

    await h.supervisor.stop();
    expect(tokens.holder(first!)).toBeUndefined();
    expect(tokens.liveIds().size).toBe(0);
  });
});
