import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from './sse-parser.ts';

function parse(...chunks: string[]): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseParser((event) => events.push(event));
  for (const chunk of chunks) parser.feed(chunk);
  return events;
}

describe('SseParser', () => {
  it('reads an event with its type, id and data', () => {
    expect(parse('event: table\nid: 7\ndata: {"revision":7}\n\n')).toEqual([
      { type: 'table', id: '7', data: '{"revision":7}' },
    ]);
  });

  it('ignores heartbeat comments', () => {
    expect(parse(': ping\n\n: ping\n\n')).toEqual([]);
  });

  it('joins an event cut across chunks at any place', () => {
    const stream = 'event: table\nid: 3\ndata: {"a":1}\n\n: ping\n\nevent: table\nid: 4\ndata: {"a":2}\n\n';
    const whole = parse(stream);
    for (let cut = 1; cut < stream.length; cut++) {
      expect(parse(stream.slice(0, cut), stream.slice(cut))).toEqual(whole);
    }
    expect(whole.map((event) => event.id)).toEqual(['3', '4']);
  });

  it('accepts CRLF and CR line ends, even when a CRLF is split between chunks', () => {
    expect(parse('data: a\r', '\ndata: b\r\n\r', '\n')).toEqual([
      { type: 'message', id: undefined, data: 'a\nb' },
    ]);
    expect(parse('data: c\r\r')).toEqual([{ type: 'message', id: undefined, data: 'c' }]);
  });

  it('keeps the last id for later events and dispatches nothing without data', () => {
    expect(parse('id: 9\n\nevent: table\ndata: x\n\n')).toEqual([{ type: 'table', id: '9', data: 'x' }]);
  });

  it('waits for the blank line before dispatching', () => {
    expect(parse('event: table\ndata: {}\n')).toEqual([]);
  });
});
