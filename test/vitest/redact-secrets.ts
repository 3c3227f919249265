/** Keys whose values are credentials wherever they appear (pg's Client keeps `password` as a hidden property). */
const SECRET_KEY = /password|secret/i;
/** The user-info part of a URL: `scheme://user:password@`. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/?#\s]*@/gi;

/** `text` with the password of every URL in it replaced. */
export function redactUrls(text: string): string {
  return text.replace(URL_PASSWORD, '$1:[redacted]@');
}

/**
 * Removes credentials, in place, from an error Vitest is about to print. Vitest serializes every
 * own property of an error, hidden ones too, and pg-pool attaches the pg Client (which keeps its
 * password in a hidden property) to the error of an idle connection that was cut: a test bed that
 * stopped PostgreSQL under a pool printed the test database's password this way.
 */
export function redactSecrets(value: unknown, seen = new WeakSet<object>()): void {
  if (typeof value !== 'object' || value === null || seen.has(value)) return;
  seen.add(value);
  const record = value as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(record)) {
    const field = record[key];
    if (typeof field === 'string') {
      record[key] = SECRET_KEY.test(key) ? '[redacted]' : redactUrls(field);
    } else {
      redactSecrets(field, seen);
    }
  }
}
