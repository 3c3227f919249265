import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createService } from './service.ts';

const quiet = { write: () => undefined };

function service() {
  return createService({
    name: 'worker',
    env: { PORT: '0', FLOTILLA_GRACE_PERIOD_MS: '2000' },
    logDestination: quiet,
  });
}

describe('service.background', () => {
  it('starts a task once the service is ready, and stop() aborts it and waits for it to end', async () => {
    const svc = service();
    const seen: string[] = [];
    svc.background('ticker', async (signal) => {
      seen.push(svc.ready ? 'started ready' : 'started unready');
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      await sleep(50);
      seen.push('cleaned up');
    });
    expect(seen).toEqual([]);
    await svc.start();
    await sleep(20);
    expect(seen).toEqual(['started ready']);
    await svc.stop();
    expect(seen).toEqual(['started ready', 'cleaned up']);
  });

  it('starts a task again after it fails, so one bad iteration does not end the work', async () => {
    const svc = service();
    let runs = 0;
    svc.background('flaky', async (signal) => {
      runs++;
      if (runs === 1) throw new Error('first run fails');
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    });
    await svc.start();
    const deadline = Date.now() + 5_000;
    while (runs < 2 && Date.now() < deadline) await sleep(20);
    expect(runs).toBe(2);
    await svc.stop();
  });

  it('refuses a task registered after start()', async () => {
    const svc = service();
    await svc.start();
    expect(() => svc.background('late', async () => {})).toThrow(/before start\(\)/);
    await svc.stop();
  });
});
