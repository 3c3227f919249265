import type { IncomingHttpHeaders } from 'node:http';
import { HttpError, type PublishOptions, reply, type Service } from '@flotilla/runtime';
import { z } from 'zod';
import { PASSWORD_RULES, passwordProblems } from '../password-rules.ts';
import { hashPassword } from '../passwords.ts';
import { USER_COLUMNS, type UserRow, userView } from '../user-view.ts';

// E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
const E164 = /^\+[1-9]\d{1,14}$/;

// Unknown fields (`role`, `roles`) are dropped here: everyone registers as a customer.
const body = z.object({
  email: z
    .string()
    .trim()
    .toLowerCase()
    .max(254, 'Use an email address of at most 254 characters.')
    .pipe(z.email('Enter a valid email address, as name@example.com.')),
  name: z.string().trim().min(1, 'Enter a name.').max(100, 'Use a name of at most 100 characters.'),
  password: z.string(),
  phone: z
    .string()
    .regex(
      E164,
      'Write the phone number in E.164 format: + and country code, then the number, as +14155550123.',
    )
    .optional(),
});

const RULES_MESSAGE = `The password does not meet the rules: ${Object.values(PASSWORD_RULES).join(' ')}`;

/** The data of a user.registered event. */
export interface UserRegistered {
  user_id: string;
  email: string;
  name: string;
  phone: string | null;
}

function registeredEvent(row: UserRow): UserRegistered {
  return { user_id: row.id, email: row.email, name: row.name, phone: row.phone };
}

/** The caller's W3C trace context, so the event continues the request's trace. */
function traceContext(headers: IncomingHttpHeaders): PublishOptions {
  const { traceparent, tracestate } = headers;
  return {
    traceparent: typeof traceparent === 'string' ? traceparent : undefined,
    tracestate: typeof tracestate === 'string' ? tracestate : undefined,
  };
}

/** POST /api/identity/v1/register: creates a customer account and publishes user.registered with it. */
export function registerRoute(service: Service): void {
  service.post('/api/identity/v1/register', { body }, async (ctx) => {
    const { email, name, password, phone } = ctx.body;
    const problems = passwordProblems(password, { email, name });
    if (problems.length > 0) {
      throw new HttpError(400, 'VALIDATION_FAILED', RULES_MESSAGE, { details: problems });
    }
    const passwordHash = await hashPassword(password);
    const user = await service.transaction(async (tx) => {
      // The unique index decides between concurrent registrations of one email: the losers wait
      // for the winner's commit, then insert nothing.
      const { rows } = await tx.query<UserRow>(
        `INSERT INTO users (email, name, phone, password_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (lower(email)) DO NOTHING
         RETURNING ${USER_COLUMNS}`,
        [email, name, phone ?? null, passwordHash],
      );
      const row = rows[0];
      if (!row) {
        throw new HttpError(
          409,
          'EMAIL_TAKEN',
          'An account with this email address exists already: sign in, or register with another address.',
        );
      }
      // In the insert's transaction: the event exists exactly when the account does.
      await service.events.publish(tx, 'user.registered', registeredEvent(row), traceContext(ctx.headers));
      return row;
    });
    return reply(201, userView(user));
  });
}
