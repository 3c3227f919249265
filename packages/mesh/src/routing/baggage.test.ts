import { VERSION_BAGGAGE_KEY } from '@flotilla/spec';
import { describe, expect, it } from 'vitest';
import { baggageGet, baggageSet, MAX_BAGGAGE_BYTES } from './baggage.ts';

const KEY = VERSION_BAGGAGE_KEY;

describe('baggageGet', () => {
  it.each<[string, string | undefined, string | undefined]>([
    ['no header', undefined, undefined],
    ['an empty header', '', undefined],
    ['the only member', 'flotilla-version=v2', 'v2'],
    ['a member among others', 'userId=alice,flotilla-version=v2,isProduction=false', 'v2'],
    ['spaces and tabs around everything', 'userId=alice , \tflotilla-version \t= v2 \t, x=1', 'v2'],
    ['properties after the value', 'flotilla-version=v2;ttl=3;sticky', 'v2'],
    ['spaces before the properties', 'flotilla-version=v2 ; ttl=3', 'v2'],
    ['a percent-encoded value', 'flotilla-version=DF%2028', 'DF 28'],
    ['percent-encoded UTF-8', 'flotilla-version=caf%C3%A9', 'café'],
    ['an escape that is not UTF-8, replaced', 'flotilla-version=a%FFb', 'a\uFFFDb'],
    ['a % that starts no escape, kept', 'flotilla-version=100%', '100%'],
    ['a value with = in it', 'flotilla-version=a=b', 'a=b'],
    ['an empty value', 'flotilla-version=', ''],
    ['the first of duplicates', 'flotilla-version=v2,flotilla-version=v3', 'v2'],
    ['a key that only starts the same', 'flotilla-version-old=v1', undefined],
    ['a key that only ends the same', 'x-flotilla-version=v1', undefined],
    ['the key as a property of another member', 'other=1;flotilla-version=v2', undefined],
    ['a member without =', 'flotilla-version,other=1', undefined],
    ['empty members', ',, flotilla-version=v2,,', 'v2'],
    ['a key in another case', 'Flotilla-Version=v2', undefined],
  ])('reads %s', (_, header, expected) => {
    expect(baggageGet(header, KEY)).toBe(expected);
  });

  it('ignores a header over 8192 bytes, as the spec allows', () => {
    const filler = `pad=${'x'.repeat(MAX_BAGGAGE_BYTES)}`;
    expect(baggageGet(`flotilla-version=v2,${filler}`, KEY)).toBeUndefined();
    const justFits = `flotilla-version=v2,pad=${'x'.repeat(MAX_BAGGAGE_BYTES - 24)}`;
    expect(justFits.length).toBe(MAX_BAGGAGE_BYTES);
    expect(baggageGet(justFits, KEY)).toBe('v2');
  });
});

describe('baggageSet', () => {
  it.each<[string, string | undefined, string, string]>([
    ['no header', undefined, 'v2', 'flotilla-version=v2'],
    ['an empty header', '', 'v2', 'flotilla-version=v2'],
    ['a header of spaces', '  ', 'v2', 'flotilla-version=v2'],
    [
      'other members, kept as they are',
      'userId=alice , a = 1;p',
      'v2',
      'userId=alice , a = 1;p,flotilla-version=v2',
    ],
    ['a trailing comma', 'a=1, ', 'v2', 'a=1,flotilla-version=v2'],
    ['the member, replaced in place', 'a=1, flotilla-version=v1 ,b=2', 'v2', 'a=1, flotilla-version=v2 ,b=2'],
    [
      'the member with properties, replaced whole',
      'flotilla-version = v1;p=1,b=2',
      'v2',
      'flotilla-version=v2,b=2',
    ],
    [
      'duplicates, the later ones dropped',
      'flotilla-version=v1, a=1, flotilla-version=v3',
      'v2',
      'flotilla-version=v2, a=1',
    ],
    ['adjacent duplicates', 'flotilla-version=v1,flotilla-version=v3,z=9', 'v2', 'flotilla-version=v2,z=9'],
    [
      'a similar key, left alone',
      'flotilla-version-old=v1',
      'v2',
      'flotilla-version-old=v1,flotilla-version=v2',
    ],
    [
      'a value that needs encoding',
      undefined,
      'DF 28,%;"\\é',
      'flotilla-version=DF%2028%2C%25%3B%22%5C%C3%A9',
    ],
  ])('writes over %s', (_, header, value, expected) => {
    expect(baggageSet(header, KEY, value)).toBe(expected);
  });

  it.each(['v2', 'DF 28', 'a=b;c', '100%', 'café', '日本', 'x\uD800y'])(
    'writes %s so that baggageGet reads it back',
    (value) => {
      const header = baggageSet('a=1', KEY, value);
      expect(baggageGet(header, KEY)).toBe(value.toWellFormed());
      expect(baggageGet(header, 'a')).toBe('1');
    },
  );

  it('refuses a key that is not a token', () => {
    expect(() => baggageSet(undefined, 'bad key', 'v2')).toThrow(TypeError);
    expect(() => baggageSet(undefined, '', 'v2')).toThrow(TypeError);
  });

  it('drops whole members from the end, never the pin, to stay within 8192 bytes', () => {
    // 90 members of 90 bytes: 8189 bytes, which the pin takes over the limit.
    const members = Array.from({ length: 90 }, (_, i) => `m${String(i).padStart(2, '0')}=${'x'.repeat(86)}`);
    const header = members.join(',');
    expect(header.length).toBe(8189);
    const out = baggageSet(header, KEY, 'v2');
    expect(out.length).toBeLessThanOrEqual(MAX_BAGGAGE_BYTES);
    expect(baggageGet(out, KEY)).toBe('v2');
    expect(out).toBe(`${members.slice(0, 89).join(',')},flotilla-version=v2`);
  });

  it('brings an oversized header back within 8192 bytes, keeping the replaced pin', () => {
    const header = `flotilla-version=v1,${Array.from({ length: 200 }, (_, i) => `m${i}=${'x'.repeat(80)}`).join(',')}`;
    const out = baggageSet(header, KEY, 'v2');
    expect(out.length).toBeLessThanOrEqual(MAX_BAGGAGE_BYTES);
    expect(out.startsWith('flotilla-version=v2,m0=')).toBe(true);
  });
});
