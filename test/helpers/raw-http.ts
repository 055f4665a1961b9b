// A raw HTTP/1.1 request, for what fetch and supertest will not send (a malformed percent-encoding kept as it is, an
// oversized header, a 10 MB body the server may stop reading) and for answers that come from Node's HTTP layer.
import http from 'node:http';

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export function rawRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      // The path as given: `new URL` would re-encode a malformed escape such as %zz.
      path: url.slice(url.indexOf('/', u.protocol.length + 2)),
      method: opts.method ?? 'GET',
      headers: opts.headers,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    // A server that answers before reading the whole body closes the connection under the writer: the answer counts.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}
