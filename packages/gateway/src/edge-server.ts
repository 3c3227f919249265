import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Duplex } from 'node:stream';
import { GatewayError, type GatewayErrorCode } from './errors.ts';

/**
 * The gateway's public HTTP server. Requests Node's parser can read go to `handler`, which refuses
 * the malformed ones it lets through (`malformed-request.ts`); those it cannot read get the house's
 * JSON error instead of Node's bare one. Node's own Host check is off: the handler makes it.
 */
export function createEdgeServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer({ requireHostHeader: false }, handler);
  // Without this, Node answers `100 Continue` to every `Expect: 100-continue` before the gateway
  // has decided anything; the handler sends it once the request is on its way upstream.
  server.on('checkContinue', handler);
  server.on('clientError', refuseUnreadable);
  return server;
}

/** Status of a request Node's parser refused, by its error code; anything else is 400. */
const CODE_OF_PARSE_ERROR: Record<string, GatewayErrorCode> = {
  HPE_HEADER_OVERFLOW: 'HEADERS_TOO_LARGE',
  ERR_HTTP_REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
};

/**
 * Answers what Node's default `clientError` handler answers (a duplicate Content-Length, a
 * Transfer-Encoding that is not chunked last, a header line that does not parse...), with the
 * house's body, then closes: nothing after a request whose framing is unknown can be read.
 */
function refuseUnreadable(err: NodeJS.ErrnoException, socket: Duplex): void {
  // As Node does: no answer on a connection the client broke, or after a response has begun
  // (a parse error in the body of a request already being answered).
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (err.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
    const error = new GatewayError(CODE_OF_PARSE_ERROR[err.code ?? ''] ?? 'BAD_REQUEST');
    const body = error.toBody();
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
