import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createBus, createEnvelope, type Bus, type EventEnvelope } from '@flotilla/events';
import type { Service } from '@flotilla/runtime';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { createExtraDatabase } from '../../../test/support/databases.ts';
import { startTestPostgres } from '../../../test/support/postgres.ts';
import { inOrder } from '../../../test/support/teardown.ts';
import { buildNotificationsService } from '../src/app.ts';

/** A message the test SMTP server accepted. */
export interface Received {
  to: string[];
  messageId: string | undefined;
  subject: string | undefined;
  raw: string;
}

/**
 * A real SMTP server on 127.0.0.1 port 0 that keeps every message it accepts (duplicates too, so a
 * test sees every send), and can be switched to refusing mail for an outage of the relay.
 */
async function startSmtp(): Promise<{
  url: string;
  received: Received[];
  /** Answers MAIL FROM with this SMTP code (451: try later, 550: never) until called with false. */
  refuse(code: number | false): void;
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  let refusing: number | false = false;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onMailFrom(_address, _session, callback) {
      callback(
        refusing === false
          ? undefined
          : Object.assign(new Error(refusing >= 500 ? 'no such mailbox' : 'try again later'), {
              responseCode: refusing,
            }),
      );
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const parsed = await simpleParser(raw);
        received.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          messageId: parsed.messageId,
          subject: parsed.subject,
          raw,
        });
        callback();
      });
    },
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    refuse(code) {
      refusing = code;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The notifications service on its own database, a PostgreSQL bus, and a test SMTP server. */
export interface Bench {
  service: Service;
  smtp: Awaited<ReturnType<typeof startSmtp>>;
  bus: Bus;
  /** Publishes an event as another service would (through the bus, to every declared subscription). */
  publish(type: string, data: unknown): Promise<EventEnvelope>;
  /** Delivers one envelope again, as a bus redelivery would. */
  redeliver(envelope: EventEnvelope): Promise<void>;
  call<T = Record<string, unknown>>(path: string, subject?: string): Promise<{ status: number; body: T }>;
  sql<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  stop(): Promise<void>;
}

export async function startNotifications(): Promise<Bench> {
  const postgres = await startTestPostgres();
  const [db, busDb] = await Promise.all([
    createExtraDatabase(postgres.url, 'notifications'),
    createExtraDatabase(postgres.url, 'bus'),
  ]);
  const smtp = await startSmtp();
  const service = buildNotificationsService({
    env: {
      DATABASE_URL: db.url,
      FLOTILLA_BUS_URL: busDb.url,
      FLOTILLA_SMTP_URL: smtp.url,
      FLOTILLA_SYSTEM: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      FLOTILLA_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
      FLOTILLA_GRACE_PERIOD_MS: '3000',
    },
  });
  await service.start();
  const bus = createBus({ url: busDb.url, system: 'test' });
  const base = `http://127.0.0.1:${service.port}`;
  return {
    service,
    smtp,
    bus,
    async publish(type, data) {
      const envelope = createEnvelope({ type, source: '/test/producer', data });
      await bus.publish(envelope);
      return envelope;
    },
    redeliver: (envelope) => bus.send('notifications', envelope),
    async call(path, subject) {
      const res = await fetch(base + path, { headers: subject ? { 'x-flotilla-subject': subject } : {} });
      return { status: res.status, body: (await res.json()) as never };
    },
    sql: async (text, params) => (await service.db.query(text, params)).rows,
    async stop() {
      await inOrder([
        () => service.stop(),
        () => bus.close(),
        () => smtp.close(),
        () => Promise.all([db.drop(), busDb.drop()]),
        () => postgres.stop(),
      ]);
    },
  };
}
