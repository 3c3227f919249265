/** A PostgreSQL URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return '<unparsable postgres URL>';
  }
}

/** Host and port a PostgreSQL URL points at (5432 when it names none). */
export function serverAddress(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname || 'localhost', port: Number(parsed.port || 5432) };
}

/** The URL of `database` as `user`, on the same server and with the same options as `serverUrl`. */
export function databaseUrl(serverUrl: string, user: string, password: string, database: string): string {
  const url = new URL(serverUrl);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.href;
}
