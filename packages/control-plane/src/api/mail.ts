import type { MailList, MailMessage } from '../types.ts';
import type { MailQuery, MailSource } from './backend.ts';
import { ApiError } from './errors.ts';

/** Limits of GET /v1/mail. */
export interface MailListLimits {
  /** Messages returned when `limit` is absent. */
  defaultMailLimit: number;
  maxMailLimit: number;
}

/** GET /v1/mail?to=&limit=: the sink's messages, newest first; with a relay, none and where they went. */
export function listMail(mail: MailSource, query: URLSearchParams, limits: MailListLimits): MailList {
  const parsed = parseMailQuery(query, limits);
  const head = { mode: mail.mode, address: mail.address };
  if (mail.mode === 'relay') return { ...head, messages: [], message: relayMessage(mail.address) };
  return { ...head, messages: mail.list(parsed) };
}

/** GET /v1/mail/:id: one message with its text, or 404 saying why there is none. */
export function getMail(mail: MailSource, id: string): MailMessage {
  if (mail.mode === 'relay') throw new ApiError('NOT_FOUND', { message: relayMessage(mail.address) });
  const found = mail.get(id);
  if (!found) {
    throw new ApiError('NOT_FOUND', {
      message: `No message "${id}" in the SMTP sink; GET /v1/mail (flotilla mail) lists the ones it holds.`,
    });
  }
  return found;
}

function parseMailQuery(query: URLSearchParams, limits: MailListLimits): MailQuery {
  const limitText = query.get('limit');
  // Digits only: Number() would also take "", "1e2" and " 5 ".
  const limit =
    limitText === null ? limits.defaultMailLimit : /^\d+$/.test(limitText) ? Number(limitText) : Number.NaN;
  if (!(limit >= 1 && limit <= limits.maxMailLimit)) {
    throw new ApiError('BAD_REQUEST', {
      message: `"limit" must be a whole number from 1 to ${limits.maxMailLimit}.`,
    });
  }
  const to = query.get('to');
  if (to !== null && to.trim() === '') {
    throw new ApiError('BAD_REQUEST', { message: '"to" must be an address, as in ?to=alice@example.com.' });
  }
  return { limit, ...(to === null ? {} : { to: to.trim() }) };
}

function relayMessage(address: string): string {
  return `Mail goes to the SMTP relay ${address} (infrastructure.smtp.url), which keeps it; the control plane keeps no copy.`;
}
