import { describe, expect, it } from 'vitest';
import { PASSWORD_RULES, passwordProblems } from './password-rules.ts';

const account = { email: 'alice.smith@example.com', name: 'Alice Smith' };

describe('password rules', () => {
  it.each([
    ['a long passphrase', 'correct horse battery staple', []],
    ['exactly 12 characters', 'gq7#Lm2!vZx9', []],
    ['exactly 128 characters', 'x7'.repeat(64), []],
    ['11 characters', 'gq7#Lm2!vZx', ['length']],
    ['129 characters', `${'x7'.repeat(64)}y`, ['length']],
    ['the empty string', '', ['length']],
    ['the email with a suffix', 'alice.smith@example.com1', ['personal']],
    ['the local part of the email with digits', 'alice.smith2024!', ['personal']],
    ['the name without its space, in capitals', 'ALICESMITH1990', ['personal']],
    ['the name twice', 'alicesmithalicesmith', ['personal']],
    ['a common password', 'password1234', ['common']],
    ['a common password in another case', 'QwErTy123456', ['common']],
    ['a short common password', 'abc123', ['length']],
    ['the name among as many other characters', 'alice smith rides a red bike', []],
  ])('judges %s', (_, password, broken) => {
    expect(passwordProblems(password, account).map((p) => p.rule)).toEqual(broken);
  });

  it('counts characters, not UTF-16 code units, so 12 emoji are long enough and 11 are not', () => {
    expect(passwordProblems('🔑'.repeat(12), account)).toEqual([]);
    expect(passwordProblems('🔑'.repeat(11), account).map((p) => p.rule)).toEqual(['length']);
  });

  it('counts a password after NFKC normalisation, so full-width letters are the common password they spell', () => {
    expect(passwordProblems('ｐａｓｓｗｏｒｄ１２３４', account).map((p) => p.rule)).toEqual(['common']);
  });

  it('says each broken rule as a client-fit sentence on the password field', () => {
    expect(passwordProblems('alice', account)).toEqual([
      { path: 'password', rule: 'length', message: PASSWORD_RULES.length },
      { path: 'password', rule: 'personal', message: PASSWORD_RULES.personal },
    ]);
    expect(PASSWORD_RULES.length).toBe('Use 12 to 128 characters.');
  });
});
