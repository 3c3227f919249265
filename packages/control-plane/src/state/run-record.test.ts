import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ensureStateDir,
  readRunRecord,
  removeRunRecord,
  type RunRecord,
  statePaths,
  writeRunRecord,
} from './index.ts';

let dir: string;
let stateDir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-run-record-'));
  stateDir = join(dir, '.flotilla');
  await ensureStateDir(stateDir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const record: RunRecord = {
  adminPort: 7070,
  gatewayPort: 8080,
  dataPlaneToken: 'dp-token',
  smtp: { port: 2525, password: 'smtp-password' },
  postgres: { port: 5433 },
};

describe('the run record', () => {
  it('keeps what the running processes were given, readable by its owner only', async () => {
    await writeRunRecord(stateDir, record);
    expect(await readRunRecord(stateDir)).toEqual(record);
    expect((await stat(statePaths(stateDir).runRecord)).mode & 0o777).toBe(0o600);
  });

  it('is gone after removeRunRecord, and removing it twice is no error', async () => {
    await writeRunRecord(stateDir, record);
    await removeRunRecord(stateDir);
    await removeRunRecord(stateDir);
    expect(await readRunRecord(stateDir)).toBeUndefined();
  });

  it('counts as absent when unreadable or without ports and token, so that nothing is reused from it', async () => {
    const path = statePaths(stateDir).runRecord;
    await writeFile(path, '{"adminPort": 70', { mode: 0o600 });
    expect(await readRunRecord(stateDir)).toBeUndefined();
    await writeFile(path, JSON.stringify({ ...record, dataPlaneToken: undefined }), { mode: 0o600 });
    expect(await readRunRecord(stateDir)).toBeUndefined();
    await writeFile(path, JSON.stringify({ ...record, smtp: { port: 0 }, postgres: null }), { mode: 0o600 });
    expect(await readRunRecord(stateDir)).toEqual({ ...record, smtp: null, postgres: null });
  });
});
