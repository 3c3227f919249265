import type { SmtpSpec } from '@flotilla/spec';
import type { Logger } from 'pino';
import type { MailSource } from '../api/index.ts';
import { MAIL_DEFAULTS } from '../defaults.ts';
import { relayAddress } from './relay-address.ts';
import { type MailLimits, startMailSink } from './sink.ts';

/** The system's mail: where instances send it, and what the admin API reads of it. */
export interface Mail extends MailSource {
  /** FLOTILLA_SMTP_URL for instances: it may hold a password, so it is never shown. */
  smtpUrl: string;
  close(): Promise<void>;
}

/** What startMail needs besides the spec. */
export interface StartMailOptions {
  stateDir: string;
  log: Logger;
  /** One line once the sink listens. */
  progress?: (message: string) => void;
  /** @default MAIL_DEFAULTS.limits */
  limits?: Partial<MailLimits>;
}

/**
 * The configured relay when `infrastructure.smtp.url` is set (nothing runs here then, and nothing
 * is kept), else the built-in sink on `infrastructure.smtp.sinkPort`.
 */
export async function startMail(smtp: SmtpSpec, options: StartMailOptions): Promise<Mail> {
  if (smtp.url !== undefined) {
    return {
      mode: 'relay',
      address: relayAddress(smtp.url),
      smtpUrl: smtp.url,
      list: () => [],
      get: () => undefined,
      close: async () => {},
    };
  }
  const sink = await startMailSink({
    stateDir: options.stateDir,
    host: MAIL_DEFAULTS.host,
    port: smtp.sinkPort,
    log: options.log,
    limits: options.limits,
  });
  options.progress?.(`mail: SMTP sink on ${sink.address} (flotilla mail lists what arrives)`);
  return {
    mode: 'sink',
    address: sink.address,
    smtpUrl: sink.url,
    list: (query) => sink.store.list(query),
    get: (id) => sink.store.get(id),
    close: () => sink.close(),
  };
}
