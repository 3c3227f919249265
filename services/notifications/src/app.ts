import { config, createService, ENV, type Service } from '@flotilla/runtime';
import type { DestinationStream } from 'pino';
import { emailChannel } from './channels/email.ts';
import { localChannel } from './channels/local.ts';
import { NOTIFICATIONS_DEFAULTS } from './defaults.ts';
import { registerHandlers } from './handlers.ts';
import { registerRoutes } from './routes.ts';
import { runSender } from './sender.ts';

/** How to build the notifications service; everything else comes from the instance environment. */
export interface NotificationsOptions {
  env?: NodeJS.ProcessEnv;
  logDestination?: DestinationStream;
}

/**
 * notifications: turns user.registered, order.paid and order.cancelled into email (SMTP), SMS and
 * push (the local provider), each recorded, each sent once, and lists a user's own notifications.
 */
export function buildNotificationsService(options: NotificationsOptions = {}): Service {
  const env = options.env ?? process.env;
  const service = createService({
    name: 'notifications',
    env,
    logDestination: options.logDestination,
    database: { migrationsDir: new URL('../migrations', import.meta.url) },
    events: {},
  });
  const email = emailChannel({
    smtpUrl: config(ENV.smtpUrl, undefined, env),
    from: config('NOTIFY_FROM', NOTIFICATIONS_DEFAULTS.from, env),
    timeoutMs: NOTIFICATIONS_DEFAULTS.sender.sendTimeoutMs,
    maxConnections: NOTIFICATIONS_DEFAULTS.sender.concurrency,
  });
  const channels = { email, sms: localChannel('sms', service.db), push: localChannel('push', service.db) };
  registerHandlers(service);
  registerRoutes(service);
  const send = runSender(service, channels, `notifications.${service.identity.system}.flotilla`);
  service.background('sender', async (signal) => {
    try {
      await send(signal);
    } finally {
      await email.close();
    }
  });
  return service;
}
