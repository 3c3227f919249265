/**
 * A relay URL as it may be shown: `host:port` only, since the URL usually carries the relay's user
 * and password.
 */
export function relayAddress(url: string): string {
  try {
    return new URL(url).host || 'the configured relay';
  } catch {
    return 'the configured relay';
  }
}
