import { setTimeout as sleep } from 'node:timers/promises';
import { createBus, type Bus, type Consumer, type EventEnvelope, parseEnvelope } from '@flotilla/events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.ts';
import { PASSWORD_RULES } from './password-rules.ts';
import { type RunningUsers, type UsersTestBed, usersTestBed } from './testing.ts';

const REGISTER = '/api/identity/v1/register';
const PASSWORD = 'correct horse battery staple';

let bed: UsersTestBed;
let users: RunningUsers;

let bus: Bus;
let probe: Consumer;
/** Every user.registered that reached the bus, as a subscriber declared before the first registration sees it. */
const published: EventEnvelope<{ email: string }>[] = [];

beforeAll(async () => {
  bed = await usersTestBed();
  bus = createBus({ url: bed.busUrl, system: 'test' });
  await bus.declare('probe', ['user.registered']);
  probe = await bus.consume('probe', async (delivery) => {
    published.push(parseEnvelope(delivery.body) as EventEnvelope<{ email: string }>);
    await delivery.ack();
  });
  users = await bed.start();
});

afterAll(async () => {
  await probe?.stop();
  await bus?.close();
  await bed?.stop();
});

/** The user.registered events published for `email`, once the relay has had time to move them. */
async function eventsFor(email: string, expected: number): Promise<EventEnvelope<{ email: string }>[]> {
  const mine = () => published.filter((e) => e.data.email === email);
  if (expected > 0) await eventually(() => expect(mine().length).toBeGreaterThanOrEqual(expected));
  // A second event, which must not exist, would follow the first within the relay's poll interval.
  await sleep(300);
  return mine();
}

describe('POST /api/identity/v1/register', () => {
  it('creates a customer with a normalised email and answers 201 with the account', async () => {
    const res = await users.call('POST', REGISTER, {
      body: {
        email: '  Ada.Lovelace@Example.COM ',
        name: ' Ada Lovelace ',
        password: PASSWORD,
        phone: '+441632960961',
      },
    });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[\da-f-]{36}$/),
      email: 'ada.lovelace@example.com',
      name: 'Ada Lovelace',
      phone: '+441632960961',
      roles: ['customer'],
      created_at: expect.any(String),
    });
    expect(Date.now() - Date.parse(res.body.created_at)).toBeLessThan(60_000);
  });

  it('stores an argon2id hash with m=19456, t=2, p=1, never the password', async () => {
    await users.call('POST', REGISTER, {
      body: { email: 'hash@example.com', name: 'Hash', password: PASSWORD },
    });
    const row = await bed.one<{ password_hash: string }>(
      users.databaseUrl,
      'SELECT password_hash FROM users WHERE email = $1',
      ['hash@example.com'],
    );
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(row.password_hash).not.toContain(PASSWORD);
  });

  it('ignores role and roles in the body: everyone registers as a customer', async () => {
    const res = await users.call('POST', REGISTER, {
      body: {
        email: 'mallory@example.com',
        name: 'Mallory',
        password: PASSWORD,
        role: 'admin',
        roles: ['admin'],
      },
    });

    expect(res.status).toBe(201);
    expect(res.body.roles).toEqual(['customer']);
  });

  it('answers 409 EMAIL_TAKEN for an email registered already, in any case', async () => {
    const body = { email: 'grace@example.com', name: 'Grace', password: PASSWORD };
    expect((await users.call('POST', REGISTER, { body })).status).toBe(201);

    const again = await users.call('POST', REGISTER, { body: { ...body, email: 'GRACE@example.com' } });

    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('EMAIL_TAKEN');
    expect(again.body.error.message).toMatch(/exists already/);
  });

  it('creates exactly one account when ten registrations of one email arrive at once', async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        users.call('POST', REGISTER, {
          body: {
            email: i % 2 ? 'RACE@example.com' : 'race@example.com',
            name: `Racer ${i}`,
            password: PASSWORD,
          },
        }),
      ),
    );

    expect(answers.map((a) => a.status).sort()).toEqual([201, ...Array(9).fill(409)]);
    const rows = await bed.query(
      users.databaseUrl,
      "SELECT id FROM users WHERE lower(email) = 'race@example.com'",
    );
    expect(rows).toHaveLength(1);
    expect(await eventsFor('race@example.com', 1)).toHaveLength(1);
  });

  it.each([
    ['shorter than 12 characters', 'Tr0ub4dor&3', 'length'],
    ['longer than 128 characters', 'x'.repeat(129), 'length'],
    ['mostly the email address', 'rules@example.com!', 'personal'],
    ['mostly the name', 'Rule Keeper 1999', 'personal'],
    ['a common password', 'Password1234', 'common'],
  ])('refuses a password %s with 400 VALIDATION_FAILED stating the rules', async (_, password, rule) => {
    const res = await users.call('POST', REGISTER, {
      body: { email: 'rules@example.com', name: 'Rule Keeper', password },
    });

    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    for (const text of Object.values(PASSWORD_RULES)) expect(res.body.error.message).toContain(text);
    expect(res.body.error.details).toEqual([
      { path: 'password', rule, message: PASSWORD_RULES[rule as keyof typeof PASSWORD_RULES] },
    ]);
    expect(
      await bed.query(users.databaseUrl, "SELECT 1 FROM users WHERE email = 'rules@example.com'"),
    ).toEqual([]);
  });

  it.each([
    ['an email that is not one', { email: 'not-an-email' }, 'email'],
    ['an empty name', { name: '   ' }, 'name'],
    ['a name over 100 characters', { name: 'n'.repeat(101) }, 'name'],
    ['a phone number not in E.164', { phone: '0044 1632 960961' }, 'phone'],
    ['no password', { password: undefined }, 'password'],
  ])('refuses %s with 400 VALIDATION_FAILED naming the field', async (_, change, field) => {
    const res = await users.call('POST', REGISTER, {
      body: { email: 'fields@example.com', name: 'Fields', password: PASSWORD, ...change },
    });

    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toEqual([field]);
  });

  it('publishes user.registered with the account through the outbox, carrying the trace context', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await fetch(`${users.url}${REGISTER}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({
        email: 'event@example.com',
        name: 'Eve Vent',
        password: PASSWORD,
        phone: '+14155550123',
      }),
    });
    const { id } = (await res.json()) as { id: string };

    const events = await eventsFor('event@example.com', 1);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'user.registered',
        source: '/local/users',
        traceparent,
        data: { user_id: id, email: 'event@example.com', name: 'Eve Vent', phone: '+14155550123' },
      }),
    ]);
  });

  it('publishes user.registered with phone null when none was given, and none for a duplicate', async () => {
    await users.call('POST', REGISTER, {
      body: { email: 'nophone@example.com', name: 'No Phone', password: PASSWORD },
    });
    await users.call('POST', REGISTER, {
      body: { email: 'nophone@example.com', name: 'Again', password: PASSWORD },
    });

    const events = await eventsFor('nophone@example.com', 1);
    expect(events.map((e) => e.data)).toEqual([
      { user_id: expect.any(String), email: 'nophone@example.com', name: 'No Phone', phone: null },
    ]);
  });

  it('writes no event for a refused registration', async () => {
    await users.call('POST', REGISTER, {
      body: { email: 'weak@example.com', name: 'Weak', password: 'short' },
    });
    await users.call('POST', REGISTER, { body: { email: 'weak@example.com', name: '', password: PASSWORD } });

    expect(await eventsFor('weak@example.com', 0)).toEqual([]);
  });

  it('creates no account when its event cannot be written, since both are one transaction', async () => {
    await bed.query(
      users.databaseUrl,
      `CREATE FUNCTION refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.envelope->'data'->>'email' = 'doomed@example.com' THEN RAISE EXCEPTION 'outbox refused'; END IF;
         RETURN NEW;
       END $$`,
    );
    await bed.query(
      users.databaseUrl,
      'CREATE TRIGGER refuse_doomed BEFORE INSERT ON flotilla_outbox FOR EACH ROW EXECUTE FUNCTION refuse_doomed()',
    );

    const res = await users.call('POST', REGISTER, {
      body: { email: 'doomed@example.com', name: 'Doomed', password: PASSWORD },
    });

    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'INTERNAL', message: 'Internal error.' } });
    expect(
      await bed.query(users.databaseUrl, "SELECT 1 FROM users WHERE email = 'doomed@example.com'"),
    ).toEqual([]);
  });

  it('never writes a password to its logs', async () => {
    const password = 'a very distinctive passphrase 7781';
    await users.call('POST', REGISTER, { body: { email: 'quiet@example.com', name: 'Quiet', password } });
    await users.call('POST', '/api/identity/v1/token', { body: { email: 'quiet@example.com', password } });
    await users.call('POST', REGISTER, {
      body: { email: 'quiet@example.com', name: 'Quiet', password: 'short' },
    });

    expect(users.logs.length).toBeGreaterThan(0);
    expect(users.logs.join('\n')).not.toContain('distinctive');
    expect(users.logs.join('\n')).not.toContain(bed.adminPassword);
  });
});
