import type { DeadLetterList } from '@flotilla/control-plane/types';
import { localTime } from './local-time.ts';

const ERROR_CHARS = 60;
/** Ids named in a replay's summary; past this many, the rest are counted. */
const SHOWN_IDS = 10;

/** `flotilla dead-letters`: one row per dead letter, oldest first, or a line saying there are none. */
export function renderDeadLetters(list: DeadLetterList, service: string | undefined): string {
  if (list.deadLetters.length === 0) return `no dead letters${service === undefined ? '' : ` in ${service}`}`;
  const rows = list.deadLetters.map((d) => [
    localTime(d.failedAt),
    d.service,
    d.type ?? '-',
    d.eventId ?? '-',
    String(d.attempts),
    clip(firstLine(d.error), ERROR_CHARS),
    d.id,
  ]);
  const table = [['FAILED AT', 'SERVICE', 'TYPE', 'EVENT ID', 'ATTEMPTS', 'ERROR', 'ID'], ...rows];
  const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
  return table
    .map((row) =>
      row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  '),
    )
    .join('\n');
}

/** `flotilla dead-letters replay`: what was sent back, e.g. `orders: replayed 2 dead letters (12, 13)`. */
export function renderReplay(service: string, replayed: readonly string[]): string {
  if (replayed.length === 0) return `${service}: no dead letters to replay`;
  const shown = replayed.slice(0, SHOWN_IDS).join(', ');
  const more = replayed.length > SHOWN_IDS ? ` and ${replayed.length - SHOWN_IDS} more` : '';
  return `${service}: replayed ${replayed.length} dead letter${replayed.length === 1 ? '' : 's'} (${shown}${more})`;
}

/** The first line of an error, which names it; the stack below it is in the JSON output. */
function firstLine(text: string): string {
  return text.split('\n', 1)[0]!.trim();
}

function clip(text: string, chars: number): string {
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}
