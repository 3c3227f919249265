import { COMMON_PASSWORDS } from './common-passwords.ts';
import { USERS_DEFAULTS } from './defaults.ts';
import { normalizePassword } from './passwords.ts';

const { minLength, maxLength } = USERS_DEFAULTS.password;

/** A password rule, by the name clients see in `details[].rule`. */
export type PasswordRule = 'length' | 'personal' | 'common';

/** The rules as a client is told them, whichever one was broken. */
export const PASSWORD_RULES: Readonly<Record<PasswordRule, string>> = Object.freeze({
  length: `Use ${minLength} to ${maxLength} characters.`,
  personal: 'Do not build it mostly from your email address or name: at least half must be other characters.',
  common: 'Do not use a commonly used password such as password1234 or 123456789012.',
});

/** One broken rule, shaped like the runtime's field issues plus the rule's name. */
export interface PasswordProblem {
  path: 'password';
  rule: PasswordRule;
  message: string;
}

/**
 * The rules `password` breaks for an account with this email and name; empty when it is fine.
 * After NIST SP 800-63B: length counts characters (code points, after normalisation), there are
 * no composition rules, and a password is refused when it is guessable from what an attacker
 * knows (the account's own email and name) or tries first (the most common passwords).
 */
export function passwordProblems(
  password: string,
  account: { email: string; name: string },
): PasswordProblem[] {
  const normalized = normalizePassword(password);
  const length = [...normalized].length;
  const problems: PasswordProblem[] = [];
  const add = (rule: PasswordRule) =>
    problems.push({ path: 'password', rule, message: PASSWORD_RULES[rule] });
  if (length < minLength || length > maxLength) add('length');
  if (isMostlyPersonal(normalized, account)) add('personal');
  if (COMMON_PASSWORDS.has(normalized.toLowerCase())) add('common');
  return problems;
}

/** Whether removing the email, its local part and the name (any case) leaves less than half the password. */
function isMostlyPersonal(password: string, account: { email: string; name: string }): boolean {
  const lower = password.toLowerCase();
  const email = account.email.toLowerCase();
  const name = account.name.toLowerCase();
  const local = email.slice(0, Math.max(0, email.lastIndexOf('@')));
  // Longest first, so the email is removed whole before its local part is looked for.
  const parts = [email, local, name, name.replace(/\s+/g, ''), ...name.split(/\s+/)]
    .filter((part) => [...part].length >= 3)
    .sort((a, b) => b.length - a.length);
  let rest = lower;
  for (const part of parts) rest = rest.replaceAll(part, '');
  return [...rest].length * 2 < [...lower].length;
}
