import { connect } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  routeSpec,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
  tableOf,
} from './test-harness.ts';

/** Longer than any answer takes on a busy machine; a test fails rather than waits past it. */
const ANSWER_WITHIN_MS = 5_000;

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Whether the gateway closed the connection after its answer. */
  closed: boolean;
}

/** Sends `raw` exactly as given on a new connection; `halfClose` ends the client's side after it. */
function sendRaw(gw: TestGateway, raw: string, halfClose = false): Promise<RawAnswer> {
  const { port } = new URL(gw.url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(raw);
      if (halfClose) socket.end();
    });
    let received = '';
    let closed = false;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', () => {});
    const done = (): void => {
      clearTimeout(bound);
      socket.destroy();
      const end = received.indexOf('\r\n\r\n');
      const lines = received.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(lines[0]?.split(' ')[1]), headers, body: received.slice(end + 4), closed });
    };
    // A connection the gateway keeps open is reported as such once the answer had time to come.
    const bound = setTimeout(done, ANSWER_WITHIN_MS);
    socket.on('end', () => {
      closed = true;
      done();
    });
    socket.on('close', () => {
      closed = true;
      done();
    });
  });
}

function errorCode(answer: RawAnswer): string | undefined {
  try {
    return (JSON.parse(answer.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

describe('requests the edge refuses', () => {
  let orders: TestUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    orders = await startUpstream();
    gw = await startGateway(
      tableOf(1, { routes: [routeSpec({ service: 'orders' })] }, { orders: [orders.port] }),
    );
    return async () => {
      await gw.close();
      await orders.close();
    };
  });

  const refused: [string, string, boolean?][] = [
    ['two Host headers', 'GET /a HTTP/1.1\r\nHost: shop.test\r\nHost: admin.test\r\n\r\n'],
    ['two Host headers in different case', 'GET /a HTTP/1.1\r\nhost: shop.test\r\nHOST: shop.test\r\n\r\n'],
    ['a request line without a version (HTTP/0.9)', 'GET /a\r\n\r\n'],
    ['a request line without a version, then the end of the stream', 'GET /a\r\n', true],
    ['a version other than 1.x', 'GET /a HTTP/2.0\r\nHost: shop.test\r\n\r\n'],
    ['an HTTP/1.1 request without Host', 'GET /a HTTP/1.1\r\n\r\n'],
    ['a Host with a userinfo', 'GET /a HTTP/1.1\r\nHost: admin@shop.test\r\n\r\n'],
    ['a Host with a space', 'GET /a HTTP/1.1\r\nHost: shop.test evil.test\r\n\r\n'],
    ['a Host with a tab', 'GET /a HTTP/1.1\r\nHost: shop.test\tx\r\n\r\n'],
    ['a Host with a path', 'GET /a HTTP/1.1\r\nHost: shop.test/admin\r\n\r\n'],
    ['a Host with a port that is not a number', 'GET /a HTTP/1.1\r\nHost: shop.test:80x\r\n\r\n'],
    ['a Host with a byte beyond ASCII', 'GET /a HTTP/1.1\r\nHost: sh\xf6p.test\r\n\r\n'],
    // Refused by Node's parser: the gateway only gives them the house's error body.
    [
      'two Content-Length headers',
      'POST /a HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx',
    ],
    [
      'Content-Length beside Transfer-Encoding',
      'POST /a HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
    ],
    [
      'two Transfer-Encoding headers',
      'POST /a HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['a header line with a space before the colon', 'GET /a HTTP/1.1\r\nHost : shop.test\r\n\r\n'],
  ];

  for (const [name, raw, halfClose] of refused) {
    it(`answers 400 BAD_REQUEST as JSON and closes the connection for ${name}, with no upstream call`, async () => {
      const before = orders.seen.length;
      const answer = await sendRaw(gw, raw, halfClose);
      expect(answer.status).toBe(400);
      expect(answer.headers['content-type']).toBe('application/json');
      expect(errorCode(answer)).toBe('BAD_REQUEST');
      expect(answer.closed).toBe(true);
      expect(orders.seen.length).toBe(before);
    });
  }

  it('answers 431 HEADERS_TOO_LARGE as JSON to headers past what Node reads', async () => {
    const answer = await sendRaw(
      gw,
      `GET /a HTTP/1.1\r\nHost: shop.test\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
    );
    expect(answer.status).toBe(431);
    expect(errorCode(answer)).toBe('HEADERS_TOO_LARGE');
    expect(answer.closed).toBe(true);
  });

  const accepted: [string, string][] = [
    ['a host and a port', 'shop.test:8080'],
    ['an IPv6 literal and a port', '[::1]:8080'],
    ['an IPv4 address', '127.0.0.1'],
    ['an empty Host', ''],
  ];

  for (const [name, host] of accepted) {
    it(`routes a Host of ${name}, and keeps the connection open for the next request`, async () => {
      const before = orders.seen.length;
      // The second request asks to close, so that the answer ends when both were served.
      const answer = await sendRaw(
        gw,
        `GET /ok HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /next HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      expect(answer.status).toBe(200);
      expect(answer.body).toContain('HTTP/1.1 200 OK');
      expect(orders.seen.slice(before).map((r) => [r.url, r.headers['x-forwarded-host']])).toEqual([
        ['/ok', host],
        ['/next', host],
      ]);
    });
  }

  it('refuses an absolute-form target with 400, as every path that does not start with /, with no upstream call', async () => {
    const before = orders.seen.length;
    const answer = await sendRaw(
      gw,
      'GET http://admin.test/a HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n',
    );
    expect(answer.status).toBe(400);
    expect(errorCode(answer)).toBe('BAD_REQUEST');
    expect(orders.seen.length).toBe(before);
  });

  it('routes an HTTP/1.0 request without Host, which HTTP/1.0 allows', async () => {
    const answer = await sendRaw(gw, 'GET /old HTTP/1.0\r\n\r\n');
    expect(answer.status).toBe(200);
    expect(orders.seen.at(-1)?.url).toBe('/old');
  });
});
