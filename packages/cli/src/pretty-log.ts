import { styleText } from 'node:util';
import type { LogLine } from '@flotilla/control-plane/types';

type Style = Parameters<typeof styleText>[0];

const LEVELS: Record<number, { name: string; style: Style }> = {
  10: { name: 'TRACE', style: 'gray' },
  20: { name: 'DEBUG', style: 'blue' },
  30: { name: 'INFO', style: 'green' },
  40: { name: 'WARN', style: 'yellow' },
  50: { name: 'ERROR', style: 'red' },
  60: { name: 'FATAL', style: ['bold', 'magenta'] },
};

/** Fields shown in the line's prefix, or pino's base fields that every line of a process repeats. */
const SHOWN_ELSEWHERE = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** Fields left out when they only repeat who wrote the line; about someone else, they are shown. */
const WRITER = ['instance', 'service', 'version'] as const;

/** What a log line needs to be shown: who wrote it, when it arrived, and what it says. */
export type RawLogLine = Pick<LogLine, 'instance' | 'at' | 'line'> &
  Partial<Pick<LogLine, 'service' | 'version'>>;

/**
 * One log line for people: `HH:MM:SS instance LEVEL msg key=value...` from a pino JSON line
 * (local time, level names, an error's stack on the lines below), or the line as it is after
 * `HH:MM:SS instance` when it is not pino JSON. Colours only when asked for.
 */
export function prettyLogLine(entry: RawLogLine, options: { color: boolean }): string {
  const paint = (style: Style, text: string) =>
    options.color ? styleText(style, text, { validateStream: false }) : text;
  const record = parseRecord(entry.line);
  const time = typeof record?.time === 'number' ? new Date(record.time) : new Date(entry.at);
  const prefix = `${paint('dim', clock(time))} ${paint('cyan', entry.instance)}`;
  if (!record) return `${prefix} ${entry.line}`;

  const level = levelOf(record.level);
  const parts = [prefix, paint(level.style, level.name.padEnd(5)), String(record.msg ?? '')];
  let stack = '';
  for (const [key, value] of Object.entries(record)) {
    if (SHOWN_ELSEWHERE.has(key)) continue;
    if (WRITER.some((field) => field === key && entry[field] === value)) continue;
    const errorStack = (value as { stack?: unknown } | null)?.stack;
    if (typeof errorStack === 'string') {
      stack += `\n${errorStack.replace(/^/gm, '    ')}`;
      continue;
    }
    parts.push(`${paint('dim', `${key}=`)}${formatValue(value)}`);
  }
  return parts.filter((p) => p !== '').join(' ') + stack;
}

/** A pino record, or undefined when the line is not a JSON object that looks like one. */
function parseRecord(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    if (value && typeof value === 'object' && !Array.isArray(value) && ('level' in value || 'msg' in value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // Text that merely starts with "{" is shown as it is.
  }
  return undefined;
}

function levelOf(level: unknown): { name: string; style: Style } {
  if (typeof level === 'number') return LEVELS[level] ?? { name: `L${level}`, style: 'white' };
  if (typeof level === 'string') {
    const known = Object.values(LEVELS).find((l) => l.name === level.toUpperCase());
    return known ?? { name: level.toUpperCase(), style: 'white' };
  }
  return { name: '', style: 'white' };
}

function clock(time: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}`;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
