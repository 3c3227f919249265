/** Times `flotilla up` from spawn to the CLI's `ready in X s` line, then stops it with Ctrl-C. */
import { chmodSync, cpSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasExited, spawnOwned, stopChild } from './processes.ts';

export interface UpRun {
  /** The CLI's own figure from its `ready in X s` line; null when it never printed one. */
  reportedS: number | null;
  /** Wall-clock seconds from spawning `node` to that line (includes Node's own start-up). */
  wallS: number | null;
  error: string | null;
  /** Instances the CLI said failed to start although it reached ready. */
  failedToStart: string | null;
}

/**
 * Copies an example system (without its `.flotilla/` state) to a temporary directory, so that the
 * first `flotilla up` always starts from nothing and creates its PostgreSQL. A `node_modules` link
 * to the repository's lets the copied services import the workspace packages as they do in place.
 * Returns the copy's spec file; the caller removes `dirname(dirname(spec))`.
 */
export function copyExample(exampleDir: string, repoRoot: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-up-'));
  // An embedded PostgreSQL started as root runs as an unprivileged user that must reach its data.
  chmodSync(dir, 0o755);
  const copy = join(dir, basename(exampleDir));
  cpSync(exampleDir, copy, {
    recursive: true,
    filter: (src) => !['.flotilla', 'node_modules'].includes(basename(src)),
  });
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  writeFileSync(join(dir, 'package.json'), '{ "private": true, "type": "module" }\n');
  return join(copy, 'flotilla.yaml');
}

/** The command line, relative to the repository root. */
export function upArgs(specFile: string): string[] {
  return ['packages/cli/src/main.ts', 'up', '-f', specFile, '--gateway-port', '0', '--admin-port', '0'];
}

const READY = /ready in ([\d.]+)\s*s\b/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: strips the CLI's colour codes
const ANSI = /\x1b\[[0-9;]*m/g;

/** One `flotilla up` of `specFile`, run in `cwd` (the repository root); `timeoutMs` bounds the wait for ready. */
export async function timeUp(specFile: string, cwd: string, timeoutMs = 120_000): Promise<UpRun> {
  const start = performance.now();
  const child = spawnOwned(process.execPath, upArgs(specFile), {
    cwd,
    env: { ...process.env, NO_COLOR: '1' },
  });
  const tail: string[] = [];
  const ready = new Promise<{ reportedS: number; wallS: number } | null>((resolve) => {
    const onLine = (raw: string) => {
      const line = raw.replace(ANSI, '');
      tail.push(line);
      if (tail.length > 20) tail.shift();
      const match = READY.exec(line);
      if (match) resolve({ reportedS: Number(match[1]), wallS: (performance.now() - start) / 1_000 });
    };
    if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine);
    if (child.stderr) createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', () => resolve(null));
    setTimeout(() => resolve(null), timeoutMs).unref();
  });
  const result = await ready;
  const exitedEarly = hasExited(child);
  // The ready line is followed by the URLs and any instances that failed to start.
  await sleep(300);
  const failed = tail.findIndex((line) => /failed to start/.test(line));
  // Ctrl-C as a user would; the embedded PostgreSQL needs a moment to shut down cleanly.
  await stopChild(child, 'SIGINT', 30_000);
  if (result) {
    const failedToStart = failed === -1 ? null : tail.slice(failed).join(' ').replace(/\s+/g, ' ').trim();
    return { ...result, error: null, failedToStart };
  }
  const why = exitedEarly
    ? `exited with ${child.exitCode ?? child.signalCode}`
    : `not ready after ${timeoutMs} ms`;
  return {
    reportedS: null,
    wallS: null,
    error: `${why}; last output:\n${tail.join('\n')}`,
    failedToStart: null,
  };
}
