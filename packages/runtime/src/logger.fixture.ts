import { readInstanceEnv } from '@flotilla/spec';
import { createLogger } from './logger.ts';

// Logs, waits for its reader to go away, logs again, then says on stderr that it survived.
const log = createLogger(readInstanceEnv({}, 'fixture'));
log.info('first');
await new Promise((resolve) => setTimeout(resolve, 300));
for (let i = 0; i < 20; i++) log.info({ i }, 'after the reader left');
process.stderr.write('still running\n');
