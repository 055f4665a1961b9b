// A failover as SMB clients live it: a client resolves the file server's name through the domain controller's DNS
// (dig), connects to one of the addresses it gets with smbclient and writes, before and after each operation. A planned
// failover moves the name to site B's FSVMs and the SPNs to site B's computer account (checked with dig and
// samba-tool, independently of our LDAP code); writes land at site B; site A refuses writes; a failback moves everything
// back with no byte lost. Real gateways with one smbd each, a real Samba AD DC, real Temporal and PostgreSQL.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { writeFiles, type Agent } from '../gateway/helpers';
import { smbclient } from '../gateway/smbd';
import { addressesOf, dig, spnList } from '../helpers/directory-fixture';
import { sharedDomainController } from '../helpers/domain-controller';
import { contentDigest, startLab, waitUntil, type Lab } from '../replication/lab';
import { protect, runOperation } from './helpers';

jest.setTimeout(300_000);

describe('clients follow a planned failover and a failback (DNS, SPNs, SMB)', () => {
  let lab: Lab;
  const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'smb-client-')), 'note.txt');
  beforeAll(async () => {
    lab = await startLab({ clients: { dc: await sharedDomainController() } });
    await lab.agents.a1.client.createShare('docs');
    const root = lab.livePath(lab.agents.a1, 'docs');
    writeFiles(root, { 'welcome.txt': 'hello\n' });
    fs.chmodSync(root, 0o777); // the guest account writes as nobody
    await protect(lab, 'clients-gold', ['docs']);
  });
  afterAll(async () => lab?.close());

  const fqdn = () => lab.clients!.names['fs-a'].fqdn;
  const resolve = async () => addressesOf((await dig(lab.clients!.dc, fqdn())).answers, fqdn());

  /** Writes a file through SMB as a client would: the first resolved address that serves the share takes it. */
  async function clientWrite(name: string, text: string): Promise<{ address: string | null; output: string }> {
    fs.writeFileSync(local, text);
    let output = '';
    for (const address of await resolve()) {
      const out = await smbclient(lab.clients!.smbPort, 'docs', `put ${local} ${name}`, address);
      output += `${address}: ${out}\n`;
      if (/putting file/.test(out) && !/NT_STATUS/.test(out)) return { address, output };
    }
    return { address: null, output };
  }
  const liveOn = (agents: Agent[]) => {
    for (const a of agents) if (fs.existsSync(lab.livePath(a, 'docs'))) return lab.livePath(a, 'docs');
    throw new Error('no FSVM holds docs');
  };
  const siteA = () => [lab.agents.a1, lab.agents.a2];
  const siteB = () => [lab.agents.b1, lab.agents.b2];

  it('moves the name, the SPNs and the writes to site B, and site A refuses writes', async () => {
    const { a1, a2, b1, b2 } = lab.clients!.addresses;
    expect(await resolve()).toEqual([a1, a2].sort());
    const before = await clientWrite('before.txt', 'written at A before the failover\n');
    expect(before.address).toBe(a1);
    expect(fs.readFileSync(path.join(liveOn(siteA()), 'before.txt'), 'utf8')).toBe(
      'written at A before the failover\n',
    );

    // The dry run says what the redirect changes.
    const plan = await request(lab.app)
      .post('/api/v1/operations/planned-failover?dryRun=true')
      .set(lab.admin)
      .send({ source: 'fs-a', destination: 'fs-b' })
      .expect(200);
    const records = (plan.body.redirect.records as { name: string; before: string[]; after: string[] }[]).map((r) => ({
      name: r.name,
      before: [...r.before].sort(),
      after: [...r.after].sort(),
    }));
    expect(records).toEqual([{ name: fqdn(), before: [a1, a2].sort(), after: [b1, b2].sort() }]);
    expect(plan.body.readiness.ok).toBe(true);

    // A client with a file open at A while the failover cuts A off: the operation reports it first.
    const holder = spawn('smbclient', [`//${a1}/docs`, '-p', String(lab.clients!.smbPort), '-N'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    holder.stdin.write('open welcome.txt\n');
    await waitUntil('the open file to show', async () => {
      const r = await lab.agents.a1.client.openFiles('docs');
      return r.openFiles.length === 1;
    });
    const op = await runOperation(lab, 'planned-failover');
    holder.kill('SIGKILL');
    expect(op.error).toBeNull();
    expect(op.state).toBe('succeeded');
    expect(op.result.openFiles).toEqual([
      { share: 'docs', smb: true, openFiles: [{ path: 'welcome.txt', client: a1, user: expect.any(String) }] },
    ]);
    const steps = op.steps as { name: string; detail: string | null }[];
    expect(steps.find((s) => s.name === 'redirect clients')!.detail).toMatch(/redirected to file server 'fs-b'/);
    expect(await resolve()).toEqual([b1, b2].sort());
    const accountA = lab.clients!.names['fs-a'].account;
    const accountB = lab.clients!.names['fs-b'].account;
    expect((await spnList(lab.clients!.dc, accountA)).spns).toEqual([]);
    expect((await spnList(lab.clients!.dc, accountB)).spns).toEqual(
      expect.arrayContaining([`cifs/${fqdn()}`, `HOST/${fqdn()}`]),
    );
    // The same client, the same name: its write lands at site B, and what A had is there.
    const after = await clientWrite('after.txt', 'written at B after the failover\n');
    expect([b1, b2]).toContain(after.address);
    expect(fs.readFileSync(path.join(liveOn(siteB()), 'after.txt'), 'utf8')).toBe('written at B after the failover\n');
    expect(fs.existsSync(path.join(liveOn(siteB()), 'before.txt'))).toBe(true);
    // Site A is read-only for clients now.
    const refused = await smbclient(lab.clients!.smbPort, 'docs', `put ${local} refused.txt`, a1);
    expect(refused).toMatch(/NT_STATUS_(ACCESS_DENIED|MEDIA_WRITE_PROTECTED)/);
    expect(fs.existsSync(path.join(liveOn(siteA()), 'refused.txt'))).toBe(false);
  });

  it('moves everything back with a failback, the writes made at B included', async () => {
    const { a1, a2 } = lab.clients!.addresses;
    const op = await runOperation(lab, 'failback');
    expect(op.error).toBeNull();
    expect(op.state).toBe('succeeded');
    expect(await resolve()).toEqual([a1, a2].sort());
    const accountA = lab.clients!.names['fs-a'].account;
    expect((await spnList(lab.clients!.dc, accountA)).spns).toEqual(
      expect.arrayContaining([`cifs/${fqdn()}`, `HOST/${fqdn()}`]),
    );
    expect(contentDigest(liveOn(siteA()))).toEqual(contentDigest(liveOn(siteB())));
    const back = await clientWrite('back.txt', 'written at A after the failback\n');
    expect(back.address).toBe(a1);
    expect(fs.readFileSync(path.join(liveOn(siteA()), 'after.txt'), 'utf8')).toBe('written at B after the failover\n');
  });
});
