// The receiving end of a data request upgraded to a raw stream (DATA_STREAM_PROTOCOL). The sender's snapshot tool
// writes straight into the connection (no copy through the sending agent); here the connection is read like the body
// of a chunked data request, and once the sender half-closes it the receiver answers one JSON line. Authentication,
// validation and errors are those of `PUT /v1/receives/:id/data`; a refused upgrade gets an ordinary problem answer.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import { DATA_STREAM_PROTOCOL, GATEWAY_API_PREFIX, ReceiveDataQuery, TransferId } from '../../domain/gateway-contract';
import { problemOf, type Gateway } from '../app';
import { parse } from '../http';
import { UnauthenticatedError } from '../errors';
import { errorMessage } from '../util';

const DATA_PATH = /^\/receives\/([^/?]+)\/data(?:\?(.*))?$/;

/** The server's `upgrade` listener. */
export function acceptDataStreams(gw: Gateway): (req: IncomingMessage, socket: Socket, head: Buffer) => void {
  return (req, socket, head) => {
    serve(gw, req, socket, head).catch((err: unknown) => {
      gw.log.error({ err: errorMessage(err) }, 'data stream failed');
      socket.destroy();
    });
  };
}

function refuse(socket: Socket, err: unknown): void {
  const problem = problemOf(err);
  const body = JSON.stringify(problem);
  socket.end(
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}\r\n` +
      `content-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
}

async function serve(gw: Gateway, req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
  // The HTTP server no longer listens on an upgraded socket: a reset shows in the read (or is of no more use).
  socket.on('error', () => undefined);
  let id: string;
  let offset: number;
  try {
    const url = req.url ?? '';
    const m = url.startsWith(GATEWAY_API_PREFIX) ? DATA_PATH.exec(url.slice(GATEWAY_API_PREFIX.length)) : null;
    if (!m || req.method !== 'PUT') throw new NotFoundError('no such endpoint');
    if (req.headers.upgrade !== DATA_STREAM_PROTOCOL) {
      throw new ValidationError(`upgrade: only ${DATA_STREAM_PROTOCOL} is offered`);
    }
    // the upgraded connection is handed to the receiving tool as it is: on TLS that would be ciphertext
    if (socket instanceof TLSSocket) throw new ValidationError('upgrade: not offered on TLS; send the stream chunked');
    const caller = gw.authenticate(req);
    if (caller?.kind !== 'peer') throw new UnauthenticatedError();
    id = parse(TransferId, decodeURIComponent(m[1]!), 'transferId');
    offset = parse(ReceiveDataQuery, Object.fromEntries(new URLSearchParams(m[2] ?? '')), 'query').offset;
    // refused before the switch when it can be (the offset is checked by the write, and answered on the stream)
    const st = gw.receiver.get(id);
    if (st.state !== 'receiving') throw new ConflictError(`receive ${id} is ${st.state}, not receiving`);
  } catch (err) {
    refuse(socket, err);
    return;
  }
  // The sender half-closes when its tool is done: keep this side open for the answer.
  socket.allowHalfOpen = true;
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${DATA_STREAM_PROTOCOL}\r\n\r\n`);
  if (head.length) socket.unshift(head);
  let answer: object;
  try {
    answer = { status: await gw.receiver.writeUpgraded(id, offset, socket) };
  } catch (err) {
    const problem = problemOf(err);
    if (problem.status >= 500 && problem.status !== 507)
      gw.log.error({ err: problem.detail, id }, 'data stream failed');
    answer = { problem };
  }
  if (!socket.destroyed) socket.end(`${JSON.stringify(answer)}\n`);
}
