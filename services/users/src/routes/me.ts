import { HttpError, type Service } from '@flotilla/runtime';
import { requireSubject } from '../caller.ts';
import { USER_COLUMNS, type UserRow, userView } from '../user-view.ts';

const UUID = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i;

/** GET /api/users/v1/me: the caller's own account. */
export function meRoute(service: Service): void {
  service.get('/api/users/v1/me', async (ctx) => {
    const subject = requireSubject(ctx);
    // Checked here so that a subject that is no user id is a 404, not a database error.
    const { rows } = UUID.test(subject)
      ? await service.db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [subject])
      : { rows: [] };
    const row = rows[0];
    if (!row)
      throw new HttpError(404, 'USER_NOT_FOUND', 'The account this token was issued for does not exist.');
    return userView(row);
  });
}
