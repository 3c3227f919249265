import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { MAIL_DEFAULTS } from '../defaults.ts';
import { randomToken, statePaths } from '../state/index.ts';
import { MailError } from './errors.ts';
import { isSinkLogin } from './login.ts';
import { MailStore } from './mail-store.ts';
import { parseMessage } from './parse-message.ts';
import { readMessage } from './read-message.ts';
import { smtpError } from './smtp-error.ts';

/** Bounds of the sink; see MAIL_DEFAULTS.limits. */
export type MailLimits = { -readonly [K in keyof typeof MAIL_DEFAULTS.limits]: number };

/** How to start the SMTP sink. */
export interface MailSinkOptions {
  /** Messages go to `<stateDir>/mail/`. */
  stateDir: string;
  /** A loopback address; anything else is refused, since the sink takes mail from local instances only. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  log: Logger;
  /** @default MAIL_DEFAULTS.limits */
  limits?: Partial<MailLimits>;
  /** The login's password; a random one when absent (a later run passes its predecessor's, see startMail). */
  password?: string;
}

/** A listening SMTP sink. */
export interface MailSink {
  /** `smtp://flotilla:<password>@<host>:<port>`: for instances only, since it holds the password. */
  url: string;
  /** `<host>:<port>`, without credentials: safe to show. */
  address: string;
  port: number;
  /** The login's password; also in `url`, never shown. */
  password: string;
  store: MailStore;
  /** Stops taking connections, gives open ones a short grace, and waits for messages being stored. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Starts the built-in SMTP sink: mail the instances send is parsed and kept in the mail store
 * instead of being delivered. A login is required (PLAIN or LOGIN, user `flotilla`, a password new
 * on every run unless given), in clear text: the sink listens on loopback only, where TLS protects nothing, and
 * STARTTLS is off so that no client insists on it. The password appears only in `url`, never in a
 * log line.
 */
export async function startMailSink(options: MailSinkOptions): Promise<MailSink> {
  const { host, log } = options;
  if (!LOOPBACK.has(host)) {
    throw new MailError(
      'FLOTILLA_MAIL_HOST',
      `the SMTP sink listens on loopback only (127.0.0.1 or ::1), not "${host}"`,
    );
  }
  const limits: MailLimits = { ...MAIL_DEFAULTS.limits, ...options.limits };
  const store = await MailStore.open({
    dir: statePaths(options.stateDir).mail,
    maxMessages: limits.maxMessages,
  });
  const login = { user: MAIL_DEFAULTS.user, password: options.password ?? randomToken() };
  const storing = new Set<Promise<void>>();

  const receive = async (raw: Buffer, session: SMTPServerSession): Promise<string> => {
    const envelopeTo = session.envelope.rcptTo.map((r) => r.address);
    const { entry, duplicate } = await store.add(raw, await parseMessage(raw, envelopeTo, limits));
    if (duplicate) {
      log.info(
        { id: entry.id, messageId: entry.messageId, receivedCount: entry.receivedCount },
        'mail: the same Message-ID arrived again; counted, not stored again',
      );
      return `OK: already stored as ${entry.id} (same Message-ID), not stored again`;
    }
    log.info({ id: entry.id, size: entry.size, recipients: envelopeTo.length }, 'mail: stored a message');
    return `OK: stored as ${entry.id}`;
  };

  const server = new SMTPServer({
    name: 'flotilla-mail-sink',
    banner: 'Flotilla SMTP sink: mail is kept, not delivered',
    logger: false,
    disableReverseLookup: true,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    authRequiredMessage:
      'Error: authentication required; log in with the user and password of FLOTILLA_SMTP_URL',
    size: limits.messageBytes,
    rejectOversized: true,
    maxRecipients: limits.maxRecipients,
    maxClients: limits.maxClients,
    socketTimeout: MAIL_DEFAULTS.socketTimeoutMs,
    closeTimeout: MAIL_DEFAULTS.closeGraceMs,
    onAuth(auth, session, callback) {
      if (isSinkLogin(auth, login)) {
        callback(null, { user: auth.username });
        return;
      }
      log.warn({ user: auth.username, remote: session.remoteAddress }, 'mail: refused an SMTP login');
      callback(
        smtpError(535, 'Error: authentication failed; use the user and password of FLOTILLA_SMTP_URL'),
      );
    },
    onData(stream: SMTPServerDataStream, session, callback) {
      const done = readMessage(stream, limits.messageBytes)
        .then(async (raw) => {
          // smtp-server answers 552 for an oversized message whatever is reported here.
          if (stream.sizeExceeded) {
            callback(
              smtpError(552, `Error: message exceeds the sink's limit of ${limits.messageBytes} bytes`),
            );
            return;
          }
          callback(null, await receive(raw, session));
        })
        .catch((error: unknown) => {
          log.error({ err: error }, 'mail: could not store a message');
          // A 4xx reply: the sender keeps the message and tries again.
          callback(smtpError(451, 'Error: the sink could not store the message; try again later'));
        })
        .finally(() => storing.delete(done));
      storing.add(done);
    },
  });

  await new Promise<void>((resolve, reject) => {
    const onListenError = (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EADDRINUSE' && error.code !== 'EACCES') {
        reject(error);
        return;
      }
      const why = error.code === 'EADDRINUSE' ? 'is in use' : 'needs privileges';
      reject(
        new MailError(
          'FLOTILLA_MAIL_PORT_IN_USE',
          `the SMTP sink cannot listen: port ${options.port} on ${host} ${why}; set infrastructure.smtp.sinkPort in the spec to another port (0 picks a free one)`,
          { cause: error },
        ),
      );
    };
    server.once('error', onListenError);
    server.listen({ host, port: options.port, exclusive: true }, () => {
      server.off('error', onListenError);
      resolve();
    });
  });
  // A client that misbehaves costs its own connection, never the control plane.
  server.on('error', (error: Error) => log.debug({ err: error }, 'mail: SMTP connection error'));

  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url: `smtp://${MAIL_DEFAULTS.user}:${encodeURIComponent(login.password)}@${hostPort}`,
    address: hostPort,
    port,
    password: login.password,
    store,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(storing);
      await store.close();
    },
  };
}
