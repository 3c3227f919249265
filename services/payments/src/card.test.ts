import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { brandOf, Card, parseCard, passesLuhn } from './card.ts';

describe('card numbers', () => {
  it.each([
    ['4242424242424242', true],
    ['4242424242424241', false],
    ['378282246310005', true],
    ['378282246310006', false],
    ['0000000000000', true],
    ['79927398713', true],
    ['79927398710', false],
  ])('tells %s Luhn-valid: %s', (digits, valid) => {
    expect(passesLuhn(digits)).toBe(valid);
  });

  it.each([
    ['4242424242424242', 'visa'],
    ['5105105105105100', 'mastercard'],
    ['2221000000000009', 'mastercard'],
    ['2720990000000007', 'mastercard'],
    ['2721000000000000', 'unknown'],
    ['371449635398431', 'amex'],
    ['6011000990139424', 'discover'],
    ['6445644564456445', 'discover'],
    ['3530111333300000', 'unknown'],
  ])('names the brand of %s: %s', (digits, brand) => {
    expect(brandOf(digits)).toBe(brand);
  });

  it('reads a number with spaces as its digits', () => {
    const card = parseCard(' 4242 4242 4242 4242 ');

    expect(card).toBeInstanceOf(Card);
    expect((card as Card).number).toBe('4242424242424242');
  });

  it('serialises, logs and prints a card as brand and last four digits only', () => {
    const card = new Card('4242424242424242');

    expect(JSON.stringify({ card })).toBe('{"card":{"brand":"visa","last4":"4242"}}');
    expect(inspect({ card })).not.toContain('42424242');
    expect(String(Object.keys(card))).not.toContain('42424242');
    expect(JSON.stringify({ ...card })).not.toContain('42424242');
  });
});
