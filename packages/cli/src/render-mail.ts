import type { MailList, MailMessage } from '@flotilla/control-plane/types';
import { localTime } from './local-time.ts';

const TO_CHARS = 40;
const SUBJECT_CHARS = 60;

/** `flotilla mail`: one row per message (received, to, subject, id), or a line saying why there are none. */
export function renderMailList(list: MailList, to: string | undefined): string {
  if (list.mode === 'relay') return list.message ?? `mail goes to the SMTP relay ${list.address}`;
  if (list.messages.length === 0) {
    return `no mail${to === undefined ? '' : ` to ${to}`} in the SMTP sink at ${list.address} yet`;
  }
  const rows = list.messages.map((m) => [
    localTime(m.receivedAt),
    clip(recipientsOf(m).join(', ') || '-', TO_CHARS),
    clip(m.subject || '(no subject)', SUBJECT_CHARS) + (m.receivedCount > 1 ? ` (x${m.receivedCount})` : ''),
    m.id,
  ]);
  const table = [['RECEIVED', 'TO', 'SUBJECT', 'ID'], ...rows];
  const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
  return table
    .map((row) =>
      row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  '),
    )
    .join('\n');
}

/** `flotilla mail <id>`: the headers people look at, then the plain-text body. */
export function renderMailMessage(message: MailMessage, rawFile: string): string {
  const shown = new Set([...message.to, ...message.cc].map((a) => a.toLowerCase()));
  // Envelope recipients that no header names are the Bcc recipients: the sender kept them out of the headers.
  const bcc = message.envelopeTo.filter((a) => !shown.has(a.toLowerCase()));
  const received =
    localTime(message.receivedAt) + (message.receivedCount > 1 ? ` (${message.receivedCount} times)` : '');
  const headers: [string, string][] = [
    ['From', message.from],
    ['To', message.to.join(', ')],
    ['Cc', message.cc.join(', ')],
    ['Bcc', bcc.join(', ')],
    ['Subject', message.subject],
    ['Message-ID', message.messageId ?? ''],
    ['Received', received],
    ['Size', formatBytes(message.size)],
    ['Id', message.id],
    ['File', rawFile],
  ];
  const lines = headers
    .filter(([, value]) => value !== '')
    .map(([name, value]) => `${`${name}:`.padEnd(12)}${value}`);
  lines.push('', message.text.replace(/\n$/, ''));
  if (message.textTruncated) {
    lines.push('', `(text cut at ${message.text.length} characters; the whole message is in ${rawFile})`);
  }
  return lines.join('\n');
}

/** Who a message went to: its To header, or the envelope when it had none (a Bcc-only message). */
function recipientsOf(message: MailMessage): string[] {
  return message.to.length > 0 ? message.to : message.envelopeTo;
}

function clip(text: string, chars: number): string {
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
