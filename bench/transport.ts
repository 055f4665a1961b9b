// `npm run bench -- transport [--quick] [--size-mib N] [--reps N]`
// The data plane's choice of transport, measured: the same bytes (default 1 GiB, --quick 256 MiB) sent from this
// process to a receiving process on loopback over a raw TCP connection (the yardstick), an HTTP/1.1 chunked PUT
// (what the data plane uses) and an HTTP/2 stream (cleartext h2c, with the protocol's default 64 KiB flow-control
// windows and with 16 MiB windows), and the data plane's HTTP/1.1 PUT on mutual TLS (certificates of a CA made for the
// run, as two FSVMs present them; the cipher suite is printed). The receiver counts the bytes and answers the count. Each variant runs
// --reps times (default 3), interleaved; the figures are medians.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority, issueFsvmCertificate } from '../infra/tls-certificates';
import type { BenchContext, BenchFigures } from './run';

const MiB = 1024 * 1024;
const BIG_WINDOW = 16 * MiB;
const VARIANTS = ['tcp', 'http1', 'https1', 'http2', 'http2-16MiB'] as const;
type Variant = (typeof VARIANTS)[number];

/** The receiving process: a server per variant on an ephemeral port; prints the ports as JSON when listening. */
const RECEIVER = `
const net = require('node:net'), http = require('node:http'), http2 = require('node:http2'), https = require('node:https');
const fs = require('node:fs');
const listen = (srv) => new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv.address().port)));
const tcp = net.createServer((s) => { let n = 0; s.on('data', (b) => (n += b.length)); s.on('end', () => s.end(String(n))); });
const h1 = http.createServer((req, res) => { let n = 0; req.on('data', (b) => (n += b.length)); req.on('end', () => res.end(String(n))); });
const mk = (win) => {
  const srv = http2.createServer(win ? { settings: { initialWindowSize: win } } : {});
  if (win) srv.on('session', (s) => s.setLocalWindowSize(win));
  srv.on('stream', (st) => { let n = 0; st.on('data', (b) => (n += b.length)); st.on('end', () => { st.respond({ ':status': 200 }); st.end(String(n)); }); });
  return srv;
};
const t = JSON.parse(process.env.BENCH_TLS);
const h1s = https.createServer({ cert: fs.readFileSync(t.cert), key: fs.readFileSync(t.key), ca: fs.readFileSync(t.ca),
  requestCert: true, rejectUnauthorized: true }, (req, res) => { let n = 0; req.on('data', (b) => (n += b.length)); req.on('end', () => res.end(String(n))); });
Promise.all([listen(tcp), listen(h1), listen(h1s), listen(mk(0)), listen(mk(${BIG_WINDOW}))]).then(([a, b, e, c, d]) =>
  process.stdout.write(JSON.stringify({ tcp: a, http1: b, https1: e, http2: c, 'http2-16MiB': d }) + '\\n'));
`;

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Writes `count` times `chunk` to a writable, honouring backpressure. */
async function pump(w: NodeJS.WritableStream, chunk: Buffer, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (!w.write(chunk)) await new Promise<void>((r) => w.once('drain', () => r()));
  }
  w.end();
}

function collect(r: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    r.on('data', (d: Buffer) => (s += d.toString()));
    r.on('end', () => resolve(s));
    r.on('error', reject);
  });
}

/** The sender's side of the mutual TLS variant: its certificate and key, the CA; the suite the last send ran. */
interface SenderTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  cipher?: string;
}

async function send(variant: Variant, port: number, chunk: Buffer, count: number, tls: SenderTls): Promise<number> {
  const started = process.hrtime.bigint();
  let answer: string;
  if (variant === 'tcp') {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const got = collect(sock);
    await pump(sock, chunk, count);
    answer = await got;
  } else if (variant === 'https1') {
    const req = https.request({
      host: '127.0.0.1',
      port,
      method: 'PUT',
      path: '/',
      cert: tls.cert,
      key: tls.key,
      ca: tls.ca,
      agent: false,
    });
    req.on('socket', (s) =>
      s.once('secureConnect', () => {
        const t = s as TLSSocket;
        tls.cipher = `${t.getProtocol()} ${t.getCipher().standardName}`;
      }),
    );
    const res = new Promise<http.IncomingMessage>((r, j) => req.on('response', r).on('error', j));
    await pump(req, chunk, count);
    answer = await collect(await res);
  } else if (variant === 'http1') {
    const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: '/' });
    const res = new Promise<http.IncomingMessage>((r, j) => req.on('response', r).on('error', j));
    await pump(req, chunk, count);
    answer = await collect(await res);
  } else {
    const win = variant === 'http2-16MiB' ? BIG_WINDOW : 0;
    const session = http2.connect(`http://127.0.0.1:${port}`, win ? { settings: { initialWindowSize: win } } : {});
    const st = session.request({ ':method': 'PUT', ':path': '/' });
    const got = collect(st);
    await pump(st, chunk, count);
    answer = await got;
    session.close();
  }
  const s = Number(process.hrtime.bigint() - started) / 1e9;
  if (Number(answer) !== chunk.length * count) throw new Error(`${variant}: receiver got ${answer} bytes`);
  return s;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export default async function transport(ctx: BenchContext): Promise<BenchFigures> {
  const sizeMiB = Number(arg(ctx.args, '--size-mib') ?? (ctx.quick ? 256 : 1024));
  const reps = Number(arg(ctx.args, '--reps') ?? 3);
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1) throw new Error('--size-mib must be a positive integer');
  if (!Number.isInteger(reps) || reps < 1 || reps > 20) throw new Error('--reps must be an integer from 1 to 20');
  // two FSVMs' certificates from a CA made for the run (infra/tls-certificates.ts, openssl)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-transport-'));
  const ca = await createCertificateAuthority(path.join(dir, 'ca'), { name: 'ca', commonName: 'bench CA' });
  const rcv = await issueFsvmCertificate(ca, dir, { fileServer: 'fs-b', nodeId: 'b1', hosts: ['127.0.0.1'] });
  const snd = await issueFsvmCertificate(ca, dir, { fileServer: 'fs-a', nodeId: 'a1', hosts: ['127.0.0.1'] });
  const tls: SenderTls = {
    cert: fs.readFileSync(snd.certFile),
    key: fs.readFileSync(snd.keyFile),
    ca: fs.readFileSync(ca.certFile),
  };
  const receiver: ChildProcessWithoutNullStreams = spawn(process.execPath, ['-e', RECEIVER], {
    env: { ...process.env, BENCH_TLS: JSON.stringify({ cert: rcv.certFile, key: rcv.keyFile, ca: ca.certFile }) },
  });
  ctx.onInterrupt(() => void receiver.kill('SIGKILL'));
  try {
    const ports = await new Promise<Record<Variant, number>>((resolve, reject) => {
      receiver.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()) as Record<Variant, number>));
      receiver.once('exit', (code) => reject(new Error(`receiver exited (${code})`)));
    });
    // 1 MiB writes, as the data plane's stream stages hand on (incompressible: nothing on the way compresses)
    const chunk = randomBytes(MiB);
    const samples = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    await send('tcp', ports.tcp, chunk, 16, tls); // warm up both processes
    for (let i = 0; i < reps; i++) {
      for (let k = 0; k < VARIANTS.length; k++) {
        const v = VARIANTS[(k + i) % VARIANTS.length]!;
        samples[v].push(await send(v, ports[v], chunk, sizeMiB, tls));
      }
    }
    const mbps = (v: Variant) => +(sizeMiB / median(samples[v])).toFixed(1);
    for (const v of VARIANTS) {
      ctx.log(`${v.padEnd(12)} ${mbps(v)} MiB/s (${samples[v].map((s) => s.toFixed(2)).join(', ')} s)`);
    }
    ctx.log(
      `https1 ran ${tls.cipher}: ${(mbps('https1') / mbps('http1')).toFixed(2)}x of plain HTTP/1.1 (goal >= 0.8)`,
    );
    return {
      size_mib: sizeMiB,
      reps,
      tcp_MBps: mbps('tcp'),
      http1_MBps: mbps('http1'),
      http2_MBps: mbps('http2'),
      http2_16MiB_window_MBps: mbps('http2-16MiB'),
      https1_MBps: mbps('https1'),
      https1_cipher: tls.cipher ?? '',
      https1_vs_http1: +(mbps('https1') / mbps('http1')).toFixed(3),
      http1_vs_tcp: +(mbps('http1') / mbps('tcp')).toFixed(3),
      http2_vs_tcp: +(mbps('http2') / mbps('tcp')).toFixed(3),
      http2_16MiB_window_vs_tcp: +(mbps('http2-16MiB') / mbps('tcp')).toFixed(3),
    };
  } finally {
    receiver.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
