import { setTimeout as sleep } from 'node:timers/promises';
import { failpoint, type Service } from '@flotilla/runtime';
import type { Channel } from './channels/channel.ts';
import { NOTIFICATIONS_DEFAULTS } from './defaults.ts';

const { pollIntervalMs, giveUpAfterMs, retryInitialMs, retryMaxMs, concurrency } =
  NOTIFICATIONS_DEFAULTS.sender;

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
 * mark the crash windows that the tests exercise. A transient failure (a connection refused, an
 * SMTP 4xx such as greylisting) is retried with backoff for `giveUpAfterMs`; a permanent one (SMTP
 * 5xx: no such mailbox) is marked failed at once, with its last error.
 */
export function runSender(
  service: Service,
  channels: Record<DueRow['channel'], Channel>,
  messageDomain: string,
) {
  const deliveries = service.metrics.counter({
    name: 'notifications_deliveries_total',
    help: 'Delivery attempts by channel and outcome: sent, retried (a transient failure) or failed (given up).',
    labelNames: ['channel', 'outcome'] as const,
  });
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
        const delayMs = Math.min(retryInitialMs * 2 ** Math.min(attempts - 1, 30), retryMaxMs);
        const { rows: settled } = await tx.query<{ status: string }>(
          `UPDATE notifications SET attempts = $2::int, last_error = $3,
             status = CASE WHEN $4::boolean OR created_at < now() - make_interval(secs => $5::double precision / 1000)
                           THEN 'failed' ELSE 'pending' END,
             next_attempt_at = now() + make_interval(secs => $6::double precision / 1000)
           WHERE id = $1 RETURNING status`,
          [
            due.id,
            attempts,
            String((error as Error).message ?? error).slice(0, 500),
            isPermanent(error),
            giveUpAfterMs,
            delayMs,
          ],
        );
        const failed = settled[0]?.status === 'failed';
        deliveries.inc({ channel: due.channel, outcome: failed ? 'failed' : 'retried' });
        service.log[failed ? 'error' : 'warn'](
          { err: error, notification: due.id, channel: due.channel, attempts },
          failed ? 'delivery failed for good' : 'delivery failed; retrying later',
        );
        return true;
      }
      failpoint('notifications.after-send');
      await tx.query(
        `UPDATE notifications SET status = 'sent', sent_at = now(), attempts = attempts + 1 WHERE id = $1`,
        [due.id],
      );
      deliveries.inc({ channel: due.channel, outcome: 'sent' });
      return true;
    });

  const loop = async (signal: AbortSignal): Promise<void> => {
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
  // A few loops at once: one SMTP exchange at a time cannot keep up with a busy shop's receipts
  // (measured in bench/shop.ts), and SKIP LOCKED hands each loop a different notification.
  return async (signal: AbortSignal): Promise<void> => {
    await Promise.all(Array.from({ length: concurrency }, () => loop(signal)));
  };
}

/** An SMTP 5xx reply: the relay will never take this message, so retrying cannot help. */
function isPermanent(error: unknown): boolean {
  const code = (error as { responseCode?: unknown }).responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}
