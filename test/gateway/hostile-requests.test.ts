// What the gateway agent answers to requests a fuzzer (or a caller holding a token) sends: each case below was found by
// schemathesis against the agent (issue 20) and is pinned here against a real agent process (gateway/main.ts). Every
// refusal has the problem body (application/problem+json, whatever layer refused) and changes nothing.
import net from 'node:net';
import { rawRequest } from '../helpers/raw-http';
import { runCleanups, startAgent, tmpDir, TOKEN, type Agent } from './helpers';

type Doc = {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: object }>; parameters?: { name: string; in: string }[] }>
  >;
};

describe('hostile requests to the gateway agent', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const control = { authorization: `Bearer ${TOKEN}` };
  let agent: Agent;

  beforeAll(async () => {
    agent = await startAgent({
      nodeId: 'node-a',
      dataRoot: tmpDir('hostile'),
      peers: { 'node-b': 'pair-0123456789abc' },
    });
    cleanups.push(() => agent.stop());
    await agent.client.createShare('eng', { kind: 'standard' });
  });
  afterAll(() => runCleanups(cleanups));

  const shareNames = async () => (await agent.client.listShares()).map((s) => s.name).sort();
  const problem = (status: number): unknown =>
    expect.objectContaining({ type: 'about:blank', status, title: expect.any(String), detail: expect.any(String) });

  it('refuses share names Windows clients cannot open: device names (with any extension) and a trailing dot', async () => {
    for (const name of [
      'CON',
      'nul',
      'Aux',
      'PRN',
      'COM1',
      'com9',
      'LPT1',
      'lpt0',
      'NUL.txt',
      'con.d.e',
      'eng.',
      'a.b.',
    ]) {
      const res = await rawRequest(`${agent.url}/v1/shares/${name}`, { method: 'PUT', headers: control });
      expect({ name, status: res.status }).toEqual({ name, status: 400 });
      expect(res.json).toEqual(problem(400));
      expect((res.json as { errors: { path: string }[] }).errors[0]!.path).toBe('params.share');
    }
    // Names that merely start like one are fine.
    for (const name of ['console', 'COM10', 'auxiliary', 'nul-data', 'e.n.g']) {
      const res = await rawRequest(`${agent.url}/v1/shares/${name}`, { method: 'PUT', headers: control });
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
    }
    expect(await shareNames()).toEqual(['COM10', 'auxiliary', 'console', 'e.n.g', 'eng', 'nul-data']);
  });

  it('a malformed percent-encoding is a 400 problem, without the internal message', async () => {
    const res = await rawRequest(`${agent.url}/v1/shares/eng%zz`, { headers: control });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json).toEqual({
      type: 'about:blank',
      title: 'Invalid request',
      status: 400,
      detail: 'the request URL is malformed',
    });
  });

  it('an unknown route and a request line the HTTP parser refuses get the problem body too', async () => {
    const unknown = await rawRequest(`${agent.url}/v2/nothing`, { method: 'DELETE', headers: control });
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(unknown.json).toEqual(problem(404));
    const u = new URL(agent.url);
    const bad = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(u.port), u.hostname, () => socket.write('GET /\x01 HTTP/1.1\r\n\r\n'));
      let got = '';
      socket.on('data', (b: Buffer) => (got += b.toString()));
      socket.on('end', () => resolve(got));
      socket.on('error', reject);
    });
    expect(bad).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(bad.slice(bad.indexOf('\r\n\r\n') + 4))).toEqual(problem(400));
  });

  it('an unknown content-encoding is a 415 problem', async () => {
    const res = await rawRequest(`${agent.url}/v1/shares/docs`, {
      method: 'PUT',
      headers: { ...control, 'content-type': 'application/json', 'content-encoding': 'x-fancy' },
      body: '{"kind":"standard"}',
    });
    expect(res.status).toBe(415);
    expect(res.json).toEqual(problem(415));
    expect(await shareNames()).not.toContain('docs');
  });

  it('a text/plain or form body is refused with 415, not read as no body (no standard share made of a distributed one)', async () => {
    const before = await shareNames();
    for (const [type, body] of [
      ['text/plain', '{"kind":"distributed","portions":["alice"]}'],
      ['application/x-www-form-urlencoded', 'kind=distributed&portions=alice'],
      [undefined, '{"kind":"distributed","portions":["alice"]}'],
    ] as const) {
      const res = await rawRequest(`${agent.url}/v1/shares/home`, {
        method: 'PUT',
        headers: { ...control, ...(type ? { 'content-type': type } : {}) },
        body,
      });
      expect(res.status).toBe(415);
      expect(res.json).toEqual(problem(415));
      expect((res.json as { detail: string }).detail).toMatch(/^the body must be application\/json; /);
    }
    expect(await shareNames()).toEqual(before);
    // The same body as JSON makes the distributed share.
    const ok = await rawRequest(`${agent.url}/v1/shares/home`, {
      method: 'PUT',
      headers: { ...control, 'content-type': 'application/json' },
      body: '{"kind":"distributed","portions":["alice"]}',
    });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ name: 'home', kind: 'distributed', portions: [{ name: 'alice' }] });
  });

  it('the token is checked before the body is read: 10 MB without a token get 401, not 413', async () => {
    const res = await rawRequest(`${agent.url}/v1/shares/big`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(10 * 1024 * 1024, 0x20),
    });
    expect(res.status).toBe(401);
    expect(res.json).toEqual(problem(401));
    const big = await rawRequest(`${agent.url}/v1/shares/big`, {
      method: 'PUT',
      headers: { ...control, 'content-type': 'application/json' },
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    });
    expect(big.status).toBe(413);
    expect(big.json).toEqual(problem(413));
  });

  it('DELETE of an unknown receive answers its documented 204', async () => {
    const res = await rawRequest(`${agent.url}/v1/receives/nothing-here`, { method: 'DELETE', headers: control });
    expect(res.status).toBe(204);
    const doc = (await rawRequest(`${agent.url}/v1/openapi.json`)).json as Doc;
    expect(Object.keys(doc.paths['/v1/receives/{id}']!.delete!.responses)).toEqual(
      expect.arrayContaining(['200', '204']),
    );
  });

  it('an oversized header gets the 431 problem body, not a bare status line', async () => {
    const res = await rawRequest(`${agent.url}/v1/health`, { headers: { ...control, 'x-big': 'a'.repeat(20_000) } });
    expect(res.status).toBe(431);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json).toEqual({
      type: 'about:blank',
      title: 'Request header fields too large',
      status: 431,
      detail: 'the request line and headers exceed 16384 bytes',
    });
  });

  it('documents every error with the problem body, the data plane with its peer header, bodies with 413/415', async () => {
    const doc = (await rawRequest(`${agent.url}/v1/openapi.json`)).json as Doc;
    const missing: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [code, r] of Object.entries(op.responses)) {
          if (Number(code) >= 400 && !(r.content && Object.hasOwn(r.content, 'application/problem+json')))
            missing.push(`${method} ${path} ${code}`);
        }
      }
    }
    expect(missing).toEqual([]);
    const prepare = doc.paths['/v1/receives/{id}']!.put!;
    expect(prepare.parameters).toContainEqual(expect.objectContaining({ name: 'x-gateway-node', in: 'header' }));
    expect(Object.keys(prepare.responses)).toEqual(expect.arrayContaining(['413', '415']));
    expect(Object.keys(doc.paths['/v1/shares/{share}']!.put!.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '409', '413', '415']),
    );
  });
});
