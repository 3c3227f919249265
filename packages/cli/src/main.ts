#!/usr/bin/env node
import { runCli } from './cli.ts';

// `flotilla logs orders | head` closes stdout early: the reader is done, and so are we. A closed
// terminal (EIO) must not crash `flotilla up` while it stops the system after SIGHUP.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  if (error.code !== 'EIO') throw error;
});

process.exitCode = await runCli(process.argv.slice(2));
// A finished command must not wait for a leftover handle (an idle keep-alive socket, say) to close.
setTimeout(() => process.exit(), 1_000).unref();
