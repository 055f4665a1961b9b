// What an HTTP server answers to a request Node's parser refuses before any application code sees it (headers over
// the size limit, a malformed request line, a request that took too long to arrive). Node's own answer is a bare status
// line with no body; ours is the server's problem body like every other error, written straight to the socket since
// there is no request or response object yet (https://nodejs.org/api/http.html#event-clienterror).
import http from 'node:http';
import type https from 'node:https';
import type { Duplex } from 'node:stream';

export type ProblemBody = (status: number, title: string, detail: string) => object;

/** The answer to a parser error: status, title and a detail for the client. */
export function parserErrorAnswer(code: string | undefined): { status: number; title: string; detail: string } {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      title: 'Request header fields too large',
      detail: `the request line and headers exceed ${http.maxHeaderSize} bytes`,
    };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT') {
    return { status: 408, title: 'Request timeout', detail: 'the request did not arrive in time' };
  }
  return { status: 400, title: 'Invalid request', detail: 'the request is not valid HTTP/1.1' };
}

/**
 * Answers every request the HTTP parser refuses with a problem body (`problemBody`), then closes the connection. An
 * HTTPS server emits the same event for a request that arrived through TLS (a failed handshake is `tlsClientError`).
 */
export function answerParserErrors(server: http.Server | https.Server, problemBody: ProblemBody): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A response already under way on this connection cannot be followed by another one: only close it.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const a = parserErrorAnswer(err.code);
    const body = JSON.stringify(problemBody(a.status, a.title, a.detail));
    socket.end(
      `HTTP/1.1 ${a.status} ${http.STATUS_CODES[a.status]}\r\n` +
        'content-type: application/problem+json\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        'cache-control: no-store\r\n' +
        'connection: close\r\n\r\n' +
        body,
    );
  });
}

/** Whether a request carries a body: some content (Content-Length > 0) or a chunked one. */
export function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length.trim() !== '0');
}

/**
 * Why a request's body is not of the media type the route reads (`application/json`, say), for a 415; undefined when
 * it is, or when there is no body. Without this check a JSON reader skips a `text/plain` or form body, and the call
 * goes on as if none had been sent.
 */
export function unexpectedMediaType(req: http.IncomingMessage, type: string): string | undefined {
  if (!hasBody(req)) return undefined;
  const sent = req.headers['content-type'];
  const essence = sent?.split(';')[0]!.trim().toLowerCase();
  if (essence === type) return undefined;
  return `the body must be ${type}; ${sent ? `sent ${JSON.stringify(sent.slice(0, 100))}` : 'no Content-Type was sent'}`;
}
