/** Ports the bus URLs' schemes use when a URL names none; WHATWG URLs know none of these. */
const DEFAULT_PORTS: Record<string, number> = {
  'amqp:': 5672,
  'amqps:': 5671,
  'postgres:': 5432,
  'postgresql:': 5432,
};

/** `host:port` of a bus URL, as the status shows it: never its user or password. */
export function busAddress(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || 'localhost'}:${parsed.port || DEFAULT_PORTS[parsed.protocol] || '?'}`;
  } catch {
    return 'the configured bus';
  }
}

/** A bus URL without its password, for messages and logs. */
export function redactBusUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return '<unparsable bus URL>';
  }
}
