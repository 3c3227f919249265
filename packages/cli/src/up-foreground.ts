import { type Logger, pino } from 'pino';
import type { UpOptions } from './commands/up.ts';
import { DEFAULTS } from './defaults.ts';
import { EXIT } from './exit-codes.ts';
import { portInUse } from './port-in-use.ts';
import { prettyLogLine } from './pretty-log.ts';
import { failedInstances, printReady } from './ready-summary.ts';
import { forgetRunning, recordRunning } from './running-systems.ts';
import { type DetachMessage, toDetachedParent } from './up-detached.ts';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs the control plane in this process until Ctrl-C, SIGTERM, a closed terminal (SIGHUP) or an
 * admin API shutdown. The first signal stops gracefully; a second one exits at once, for when a
 * graceful stop hangs.
 */
export async function runForeground(options: UpOptions): Promise<number> {
  const started = performance.now();
  const stopRequested = Promise.withResolvers<'signal'>();
  let signals = 0;
  const onSignal = () => {
    signals += 1;
    if (signals > 1) {
      console.log('forced stop');
      process.exit(EXIT.failure);
    }
    console.log('stopping...');
    stopRequested.resolve('signal');
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  try {
    // Loaded here, not at the top: it brings PostgreSQL and the gateway, which no other command needs.
    const { startControlPlane } = await import('@flotilla/control-plane');
    const controlPlane = await startControlPlane({
      spec: options.system,
      adminPort: options.adminPort,
      gatewayPort: options.gatewayPort,
      log: controlPlaneLogger(),
      onProgress: (message) => {
        console.log(`  ${message}`);
        toDetachedParent({ type: 'flotilla:progress', message } satisfies DetachMessage);
      },
    }).catch((error: unknown) => {
      throw portInUse(error, options);
    });
    const { name, stateDir } = options.system;
    try {
      recordRunning({ name, stateDir, pid: process.pid });
    } catch (error) {
      // The system runs all the same; only `flotilla status` elsewhere will not know of it.
      console.error(`warning: cannot record the system for flotilla status: ${(error as Error).message}`);
    }
    if (signals === 0) {
      printReady({
        elapsedMs: performance.now() - started,
        gatewayUrl: controlPlane.gatewayUrl,
        adminUrl: controlPlane.adminUrl,
        failed: failedInstances(controlPlane.status(), controlPlane.failed),
        fileHint: options.fileHint,
      });
      console.log('press Ctrl-C to stop');
    }
    const why = await Promise.race([
      stopRequested.promise,
      controlPlane.closed.then(() => 'closed' as const),
    ]);
    if (why === 'signal') await controlPlane.stop();
    console.log('stopped');
    return EXIT.ok;
  } finally {
    forgetRunning(options.system.stateDir, process.pid);
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}

/**
 * The control plane's own logger. For a person, on a terminal or through a pipe (`npm start | tee`),
 * its lines are prettified like `flotilla logs` (coloured on a terminal only) and only warnings show
 * by default, since the progress lines already tell the story. The detached control plane, started
 * by `up --detach` with an IPC channel, writes pino JSON to its log file for tools to read.
 */
function controlPlaneLogger(): Logger {
  const detached = process.send !== undefined;
  const level =
    process.env.FLOTILLA_LOG_LEVEL ?? (detached ? DEFAULTS.detachedLogLevel : DEFAULTS.foregroundLogLevel);
  if (detached) return pino({ level }, pino.destination({ fd: 2, sync: true }));
  const color = Boolean(process.stderr.isTTY);
  return pino(
    { level },
    {
      write: (line: string) => {
        const entry = { instance: 'control-plane', at: new Date().toISOString(), line: line.trimEnd() };
        process.stderr.write(`${prettyLogLine(entry, { color })}\n`);
      },
    },
  );
}
