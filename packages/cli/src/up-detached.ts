import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AdminClient, readState } from './admin-client.ts';
import type { UpOptions } from './commands/up.ts';
import { DEFAULTS } from './defaults.ts';
import { CliError } from './errors.ts';
import { EXIT } from './exit-codes.ts';
import { formatSeconds } from './format-duration.ts';
import { failedInstances, printReady } from './ready-summary.ts';
import { displayPath } from './spec-file.ts';

/** What a detached `flotilla up` tells the command that started it, over the IPC channel. */
export interface DetachMessage {
  type: 'flotilla:progress';
  message: string;
}

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Sends a message to the `flotilla up --detach` that started this process, while it still listens. */
export function toDetachedParent(message: DetachMessage): void {
  if (process.send && process.connected) process.send(message);
}

/**
 * Starts `flotilla up` again as a detached process (same arguments minus --detach) with its output
 * in `<stateDir>/logs/control-plane.log`, relays its progress, and returns once its state.json
 * appears. If it exits first, the end of its log says why.
 */
export async function runDetached(options: UpOptions, argv: readonly string[]): Promise<number> {
  const started = performance.now();
  const { stateDir } = options.system;
  const logFile = join(stateDir, 'logs', 'control-plane.log');
  mkdirSync(dirname(logFile), { recursive: true });
  const logStart = sizeOf(logFile);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...process.execArgv, MAIN, 'up', ...argv], {
    detached: true,
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  child.on('message', (message: DetachMessage) => {
    if (message.type === 'flotilla:progress') console.log(`  ${message.message}`);
  });
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    exit = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  });

  while (readState(stateDir)?.pid !== child.pid) {
    if (exit !== undefined) {
      // Its progress was relayed already; an error it explained (a port in use, say) is the one line to show.
      const explained = lastErrorLine(logFile, logStart);
      if (explained)
        throw new CliError('FLOTILLA_START_FAILED', `${explained}; full log: ${displayPath(logFile)}`);
      printLogTail(logFile, logStart);
      throw new CliError(
        'FLOTILLA_START_FAILED',
        `the control plane ${exit} before it was ready; full log: ${displayPath(logFile)}`,
      );
    }
    if (performance.now() - started > DEFAULTS.detachReadyTimeoutMs) {
      child.kill('SIGTERM');
      printLogTail(logFile, logStart);
      throw new CliError(
        'FLOTILLA_START_TIMEOUT',
        `not ready after ${formatSeconds(DEFAULTS.detachReadyTimeoutMs)}, so it was stopped; full log: ${displayPath(logFile)}`,
      );
    }
    await sleep(DEFAULTS.pollIntervalMs);
  }

  const client = AdminClient.connect(stateDir);
  printReady({
    elapsedMs: performance.now() - started,
    gatewayUrl: client.state.gatewayUrl,
    adminUrl: client.state.adminUrl,
    failed: failedInstances(await client.status()),
    fileHint: options.fileHint,
  });
  console.log(`running in the background (pid ${child.pid}); stop it with: flotilla down${options.fileHint}`);
  child.disconnect();
  child.unref();
  return EXIT.ok;
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The lines this run added to the log. */
function addedLines(logFile: string, from: number): string[] {
  return readFileSync(logFile).subarray(from).toString('utf8').trimEnd().split('\n');
}

/** What the last `error: ...` line this run wrote says, if it wrote one. */
function lastErrorLine(logFile: string, from: number): string | undefined {
  return addedLines(logFile, from)
    .findLast((line) => line.startsWith('error: '))
    ?.slice('error: '.length);
}

/** The lines this run added to the log, last ones only, to stderr. */
function printLogTail(logFile: string, from: number): void {
  const lines = addedLines(logFile, from);
  console.error(`last lines of ${displayPath(logFile)}:`);
  for (const line of lines.slice(-DEFAULTS.failureLogTailLines)) console.error(`  ${line}`);
}
