// The input of a receive's tool without the spool: real FIFO, real `dd` copies, a real tool process.
import fs from 'node:fs';
import net, { type Socket } from 'node:net';
import path from 'node:path';
import { tmpDir } from '../../test/gateway/helpers';
import { ToolInput } from './tool-input';

/** The server side of a loopback connection (paused, as the receiver hands it over) and its client. */
async function connection(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  const srv = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const accepted = new Promise<Socket>((res) => srv.once('connection', res));
  const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  return { server, client, close: () => srv.close() };
}

describe('tool input without the spool', () => {
  let root: string;
  beforeEach(() => (root = tmpDir('tool-input')));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('a relay that starts after the tool ended (the whole stream came with the request) ends with the connection', async () => {
    const input = await ToolInput.start({
      dir: path.join(root, 't1'),
      spool: false,
      // a tool that stops at the end of its stream, 4 bytes, as `btrfs receive -e` stops at the end command
      receive: async (fifo, launch) => {
        await launch(['head', '-c', '4', fifo]);
        return { sizeBytes: null };
      },
      adopt: async () => ({ sizeBytes: null }),
    });
    await input.write(Buffer.from('abcd'));
    await input.endWrites();
    expect(await input.result).toEqual({ sizeBytes: null });
    // the rest of the connection is empty: the sender half-closes it
    const conn = await connection();
    try {
      conn.client.end();
      await input.relay(conn.server);
      expect(input.offset).toBe(4);
    } finally {
      conn.server.destroy();
      conn.close();
    }
  }, 15_000);
});
