import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureStateDir } from '../state/index.ts';
import { placeDataDir } from './data-dir.ts';
import { PostgresError } from './errors.ts';

/** Only root hands the server to the postgres user, so only root has anything to place. */
describe.runIf(process.getuid?.() === 0)('placeDataDir as root', () => {
  const made: string[] = [];

  afterEach(async () => {
    for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  /** A project directory of `mode` with its state directory. */
  async function project(mode: number): Promise<{ dir: string; stateDir: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-pg-place-'));
    made.push(dir);
    await chmod(dir, mode);
    const stateDir = join(dir, '.flotilla');
    await ensureStateDir(stateDir);
    return { dir, stateDir };
  }

  it('keeps the data in the project when the postgres user can reach it, opening .flotilla for passing only', async () => {
    const { stateDir } = await project(0o755);
    expect(await placeDataDir(stateDir, 'shop')).toEqual({ dataDir: join(stateDir, 'postgres') });
    expect((await stat(stateDir)).mode & 0o777).toBe(0o711);
  });

  it('puts the data of a project in a directory closed to others under /var/lib/flotilla, linked from .flotilla/postgres, and finds it there next time', async () => {
    const { dir, stateDir } = await project(0o700);
    const hash = createHash('sha256').update(stateDir).digest('hex').slice(0, 12);
    const outside = `/var/lib/flotilla/shop-${hash}`;
    made.push(outside);

    const first = await placeDataDir(stateDir, 'shop');
    expect(first).toEqual({ dataDir: outside, unreachable: dir });
    expect(await readlink(join(stateDir, 'postgres'))).toBe(outside);
    expect((await stat(outside)).mode & 0o777).toBe(0o700);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    expect(await placeDataDir(stateDir, 'shop')).toEqual({ dataDir: outside });
  });

  it('refuses to move data that is already in an unreachable project, saying how to open the way', async () => {
    const { dir, stateDir } = await project(0o700);
    await mkdir(join(stateDir, 'postgres'));
    await writeFile(join(stateDir, 'postgres', 'PG_VERSION'), '18\n');
    const failure = await placeDataDir(stateDir, 'shop').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PostgresError);
    expect((failure as PostgresError).message).toContain(`chmod o+x ${dir}`);
  });
});
