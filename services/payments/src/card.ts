import { inspect } from 'node:util';

/** Card networks told apart by the number's leading digits; `unknown` for any other issuer. */
export type CardBrand = 'visa' | 'mastercard' | 'amex' | 'discover' | 'unknown';

const BRANDS: readonly [CardBrand, RegExp][] = [
  ['visa', /^4/],
  ['mastercard', /^(?:5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)/],
  ['amex', /^3[47]/],
  ['discover', /^(?:6011|65|64[4-9])/],
];

const DIGITS_AND_SPACES = /^[\d ]+$/;
const MIN_DIGITS = 13;
const MAX_DIGITS = 19;

/**
 * A well-formed card number. It serialises, logs and prints as brand and last four digits only,
 * so an object that holds one can go to the logger or into JSON without leaking the number.
 */
export class Card {
  readonly brand: CardBrand;
  readonly last4: string;
  readonly #number: string;

  constructor(digits: string) {
    this.#number = digits;
    this.brand = brandOf(digits);
    this.last4 = digits.slice(-4);
  }

  /** The full number, for the processor only: never store or log it. */
  get number(): string {
    return this.#number;
  }

  /** What JSON (and so the logger) sees. */
  toJSON(): { brand: CardBrand; last4: string } {
    return { brand: this.brand, last4: this.last4 };
  }

  [inspect.custom](): string {
    return `Card { ${this.brand} ending ${this.last4} }`;
  }
}

/** Why a card number was refused, in words fit for the caller. */
export interface CardProblem {
  problem: string;
}

/** A card number as a caller typed it (digits, spaces allowed) as a Card, or what is wrong with it. */
export function parseCard(input: string): Card | CardProblem {
  if (!DIGITS_AND_SPACES.test(input)) return { problem: 'Must hold only digits and spaces.' };
  const digits = input.replaceAll(' ', '');
  if (digits.length < MIN_DIGITS || digits.length > MAX_DIGITS) {
    return { problem: `Must have ${MIN_DIGITS} to ${MAX_DIGITS} digits (it has ${digits.length}).` };
  }
  if (!passesLuhn(digits)) {
    return { problem: 'Is not a valid card number: its check digit is wrong (Luhn check failed).' };
  }
  return new Card(digits);
}

/** The Luhn (mod 10) check every card number's last digit satisfies, catching any one mistyped digit. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = digits.length - 1, double = false; i >= 0; i--, double = !double) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** The network of a card number, by its leading digits. */
export function brandOf(digits: string): CardBrand {
  for (const [brand, prefix] of BRANDS) if (prefix.test(digits)) return brand;
  return 'unknown';
}
