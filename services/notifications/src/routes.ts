import { HttpError, type Service } from '@flotilla/runtime';
import { z } from 'zod';
import { NOTIFICATIONS_DEFAULTS } from './defaults.ts';

const { page } = NOTIFICATIONS_DEFAULTS;

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(page.maxSize).default(page.defaultSize),
  /** The `next_cursor` of the previous page. */
  cursor: z.string().max(300).optional(),
});

const cursorShape = z.object({ t: z.string().regex(/^\d{4}-\d{2}-\d{2} [\d:.]+[+-][\d:]+$/), id: z.uuid() });

/** GET /api/notifications/v1/notifications: the caller's own notifications, newest first. */
export function registerRoutes(service: Service): void {
  service.get('/api/notifications/v1/notifications', { query: listQuery }, async (ctx) => {
    const subject = ctx.caller.subject;
    if (subject === undefined) {
      throw new HttpError(401, 'UNAUTHENTICATED', 'Send a bearer token from POST /api/identity/v1/token.');
    }
    const after = ctx.query.cursor === undefined ? undefined : decode(ctx.query.cursor);
    const { rows } = await service.db.query<{
      id: string;
      channel: string;
      event_type: string;
      address: string;
      subject: string;
      body: string;
      status: string;
      created_at: Date;
      sent_at: Date | null;
      created_key: string;
    }>(
      `SELECT id, channel, event_type, address, subject, body, status, created_at, sent_at, created_at::text AS created_key
         FROM notifications
        WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
        ORDER BY created_at DESC, id DESC LIMIT $4`,
      [subject, after?.t ?? null, after?.id ?? null, ctx.query.limit + 1],
    );
    const items = rows.slice(0, ctx.query.limit);
    const last = items.at(-1);
    return {
      items: items.map(({ created_key: _, created_at, sent_at, ...rest }) => ({
        ...rest,
        created_at: created_at.toISOString(),
        sent_at: sent_at?.toISOString() ?? null,
      })),
      next_cursor:
        rows.length > ctx.query.limit && last
          ? Buffer.from(JSON.stringify({ t: last.created_key, id: last.id })).toString('base64url')
          : null,
    };
  });
}

function decode(cursor: string): z.infer<typeof cursorShape> {
  try {
    return cursorShape.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new HttpError(
      400,
      'INVALID_CURSOR',
      'The cursor is not one this service gave out; start again without it.',
    );
  }
}
