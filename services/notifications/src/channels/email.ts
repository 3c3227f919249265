import nodemailer from 'nodemailer';
import type { Channel } from './channel.ts';

/**
 * Email over SMTP (nodemailer), to the relay of FLOTILLA_SMTP_URL: the control plane's sink by
 * default. The Message-ID is the notification's own, so a resend after a crash between the
 * provider accepting a message and us recording it is the same message to the receiver (the sink
 * keeps it once; a real relay delivers it again, which is why that window is kept to one send).
 */
export function emailChannel(options: {
  smtpUrl: string;
  from: string;
  timeoutMs: number;
  /** SMTP sessions kept open: one per sender loop. */
  maxConnections: number;
}): Channel {
  const transport = nodemailer.createTransport({
    url: options.smtpUrl,
    // One SMTP session for many messages: a connection and login per email would cost more than the email.
    pool: true,
    maxConnections: options.maxConnections,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
  });
  return {
    async send(message) {
      await transport.sendMail({
        from: options.from,
        to: message.to,
        subject: message.subject,
        text: message.body,
        messageId: message.messageId,
      });
    },
    async close() {
      transport.close();
    },
  };
}
