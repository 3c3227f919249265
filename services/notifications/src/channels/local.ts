import type { DatabaseClient } from '@flotilla/runtime';
import type { Channel } from './channel.ts';

/**
 * The local provider of SMS and push: it records each message in `local_deliveries` of the
 * service's own database, where a provider's dashboard would show it. Keyed by message id, so a
 * resend is recorded once, as a provider with idempotency keys would do.
 */
export function localChannel(channel: 'sms' | 'push', db: Pick<DatabaseClient, 'query'>): Channel {
  return {
    async send(message) {
      await db.query(
        `INSERT INTO local_deliveries (message_id, channel, address, body) VALUES ($1, $2, $3, $4)
         ON CONFLICT (message_id) DO NOTHING`,
        [message.messageId, channel, message.to, message.body],
      );
    },
    async close() {},
  };
}
