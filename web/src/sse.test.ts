import { SseParser } from './sse';

describe('SseParser', () => {
  it('parses events split anywhere, multi-line data, comments, ids and every line ending', () => {
    const p = new SseParser();
    const stream =
      'retry: 3000\r\n\r\n: keep-alive\n\nevent: job\nid: 1\ndata: {"a":\ndata: 1}\n\nevent: x\rdata: y\r\r';
    const out = [];
    for (let i = 0; i < stream.length; i += 3) out.push(...p.push(stream.slice(i, i + 3)));
    expect(out).toEqual([
      { event: 'job', data: '{"a":\n1}', id: '1' },
      { event: 'x', data: 'y', id: '1' },
    ]);
  });

  it('a CRLF split between two chunks ends one line, not two', () => {
    const p = new SseParser();
    expect([...p.push('data: a\r'), ...p.push('\ndata: b\r'), ...p.push('\n\r\n')]).toEqual([
      { event: 'message', data: 'a\nb', id: undefined },
    ]);
  });
});
