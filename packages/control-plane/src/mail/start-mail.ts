import type { SmtpSpec } from '@flotilla/spec';
import type { Logger } from 'pino';
import type { MailSource } from '../api/index.ts';
import { MAIL_DEFAULTS } from '../defaults.ts';
import { MailError } from './errors.ts';
import { relayAddress } from './relay-address.ts';
import { type MailLimits, startMailSink } from './sink.ts';

/** The system's mail: where instances send it, and what the admin API reads of it. */
export interface Mail extends MailSource {
  /** FLOTILLA_SMTP_URL for instances: it may hold a password, so it is never shown. */
  smtpUrl: string;
  /** The sink's port and password, for a later run to listen where these instances send; null for a relay. */
  sink: { port: number; password: string } | null;
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
  /**
   * The sink of a killed earlier run, whose instances this one adopts: the new sink listens on its
   * port with its password, so that their FLOTILLA_SMTP_URL reaches it, unless the spec names
   * another port or that one is taken now.
   */
  earlier?: { port: number; password: string };
}

/**
 * The configured relay when `infrastructure.smtp.url` is set (nothing runs here then, and nothing
 * is kept), else the built-in sink on `infrastructure.smtp.sinkPort` (or the earlier run's port).
 * The sink serves every message kept in `.flotilla/mail`, those an earlier run received included.
 */
export async function startMail(smtp: SmtpSpec, options: StartMailOptions): Promise<Mail> {
  if (smtp.url !== undefined) {
    return {
      mode: 'relay',
      address: relayAddress(smtp.url),
      smtpUrl: smtp.url,
      sink: null,
      list: () => [],
      get: () => undefined,
      close: async () => {},
    };
  }
  const start = (port: number, password?: string) =>
    startMailSink({
      stateDir: options.stateDir,
      host: MAIL_DEFAULTS.host,
      port,
      password,
      log: options.log,
      limits: options.limits,
    });
  const { earlier } = options;
  const reuse = earlier !== undefined && (smtp.sinkPort === 0 || smtp.sinkPort === earlier.port);
  const sink = reuse
    ? await start(earlier.port, earlier.password).catch((error: unknown) => {
        if (!(error instanceof MailError) || error.code !== 'FLOTILLA_MAIL_PORT_IN_USE') throw error;
        options.log.warn(
          { port: earlier.port },
          "mail: the earlier run's SMTP port is taken; instances still sending there are replaced",
        );
        return start(smtp.sinkPort);
      })
    : await start(smtp.sinkPort);
  options.progress?.(`mail: SMTP sink on ${sink.address} (flotilla mail lists what arrives)`);
  return {
    mode: 'sink',
    address: sink.address,
    smtpUrl: sink.url,
    sink: { port: sink.port, password: sink.password },
    list: (query) => sink.store.list(query),
    get: (id) => sink.store.get(id),
    close: () => sink.close(),
  };
}
