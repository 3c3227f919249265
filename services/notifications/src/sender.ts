import { setTimeout as sleep } from 'node:timers/promises';
import { failpoint, type Service } from '@flotilla/runtime';
import type { Channel } from './channels/channel.ts';
import { NOTIFICATIONS_DEFAULTS } from './defaults.ts';

const { pollIntervalMs, maxAttempts, retryInitialMs, retryMaxMs } = NOTIFICATIONS_DEFAULTS.sender;

interface DueRow {
  id: string;
  channel: 'email' | 'sms' | 'push';
  address: string;
  subject: string;
  body: string;
  attempts: number;
}

/**
 * Delivers pending notifications, one per transaction: the row is locked (SKIP LOCKED, so
 * replicas share the work), sent, and marked sent in the same transaction. A crash before the
 * commit leaves it pending and it is sent again, with the same Message-ID; the two failpoints
 * mark the crash windows that the tests exercise. A failed send is retried with backoff and, after
 * `maxAttempts`, marked failed with its last error.
 */
export function runSender(
  service: Service,
  channels: Record<DueRow['channel'], Channel>,
  messageDomain: string,
) {
  const sendOne = () =>
    service.transaction(async (tx) => {
      const { rows } = await tx.query<DueRow>(
        `SELECT id, channel, address, subject, body, attempts FROM notifications
          WHERE status = 'pending' AND next_attempt_at <= now()
          ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
      );
      const due = rows[0];
      if (!due) return false;
      failpoint('notifications.before-send');
      try {
        await channels[due.channel].send({
          messageId: `<${due.id}@${messageDomain}>`,
          to: due.address,
          subject: due.subject,
          body: due.body,
        });
      } catch (error) {
        const attempts = due.attempts + 1;
        const delayMs = Math.min(retryInitialMs * 2 ** (attempts - 1), retryMaxMs);
        service.log.warn(
          { err: error, notification: due.id, channel: due.channel, attempts },
          'delivery failed',
        );
        await tx.query(
          `UPDATE notifications SET attempts = $2::int, last_error = $3,
             status = CASE WHEN $2::int >= $4::int THEN 'failed' ELSE 'pending' END,
             next_attempt_at = now() + make_interval(secs => $5::double precision / 1000)
           WHERE id = $1`,
          [due.id, attempts, String((error as Error).message ?? error).slice(0, 500), maxAttempts, delayMs],
        );
        return true;
      }
      failpoint('notifications.after-send');
      await tx.query(
        `UPDATE notifications SET status = 'sent', sent_at = now(), attempts = attempts + 1 WHERE id = $1`,
        [due.id],
      );
      return true;
    });

  return async (signal: AbortSignal): Promise<void> => {
    while (!signal.aborted) {
      let more = false;
      try {
        more = await sendOne();
      } catch (error) {
        service.log.warn({ err: error }, 'could not look for notifications to send; trying again');
      }
      if (!more) await sleep(pollIntervalMs, undefined, { signal }).catch(() => {});
    }
  };
}
