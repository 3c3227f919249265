#!/usr/bin/env node
import { runCli } from './cli.ts';

const args = process.argv.slice(2);
// `flotilla up` owns a running system: losing its output (a closed terminal, `| tee` killed by the
// same Ctrl-C) must not stop it from stopping every instance in order. Any other command whose
// reader has gone (`flotilla logs orders | head`) is done.
const ownsSystem = args[0] === 'up';
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'EIO') throw error;
    if (!ownsSystem && error.code === 'EPIPE') process.exit(0);
  });
}

process.exitCode = await runCli(args);
// A finished command must not wait for a leftover handle (an idle keep-alive socket, say) to close.
setTimeout(() => process.exit(), 1_000).unref();
