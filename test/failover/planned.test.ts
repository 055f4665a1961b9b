// Planned failover, then planned failback, of a file server with two policies and a distributed share, end to end
// with real gateways: no byte lost either way (every file's digest equal on both sides after each), the old side
// read-only, the new side read-write, who is primary recorded, and never two read-write copies of a share at any
// moment of either operation (watched every 100 ms from outside).
import fs from 'node:fs';
import request from 'supertest';
import { randomBytesDeterministic, writeFiles, type Agent } from '../gateway/helpers';
import { contentDigest, startLab, waitUntil, type Lab } from '../replication/lab';
import { protect, runOperation } from './helpers';
import { watchSplitBrain } from './split-brain-watch';

jest.setTimeout(300_000);

describe('planned failover and failback (2+2 FSVMs, two policies, a distributed share)', () => {
  let lab: Lab;
  const pairs = [
    { sourceShare: 'eng', targetShare: 'eng' },
    { sourceShare: 'home', targetShare: 'home' },
    { sourceShare: 'ops', targetShare: 'ops-dr' },
  ];
  beforeAll(async () => {
    lab = await startLab();
    const { a1, a2 } = lab.agents;
    await a1.client.createShare('eng');
    await a2.client.createShare('ops');
    await a1.client.createShare('home', { kind: 'distributed', portions: ['alice', 'bob'] });
    await a2.client.createShare('home', { kind: 'distributed', portions: ['carol'] });
    writeFiles(lab.livePath(a1, 'eng'), {
      'README.md': 'engineering\n',
      'big.bin': randomBytesDeterministic(2 << 20, 1),
    });
    writeFiles(lab.livePath(a2, 'ops'), { 'runbook.txt': 'restart the thing\n' });
    writeFiles(lab.livePath(a1, 'home', 'alice'), { 'notes.txt': 'alice\n' });
    writeFiles(lab.livePath(a1, 'home', 'bob'), { 'todo.txt': 'bob\n' });
    writeFiles(lab.livePath(a2, 'home', 'carol'), { 'thesis.tex': '\\documentclass{article}\n' });
    await protect(lab, 'gold', ['eng', 'home']);
    await protect(lab, 'planned-silver', [{ source: 'ops', target: 'ops-dr' }]);
  });
  afterAll(async () => lab?.close());

  const sideA = () => [lab.agents.a1, lab.agents.a2];
  const sideB = () => [lab.agents.b1, lab.agents.b2];

  /** The live tree of a share portion on whichever FSVM of a side holds it. */
  function live(agents: Agent[], share: string, portion = ''): string {
    for (const a of agents) {
      const p = lab.livePath(a, share, portion);
      if (fs.existsSync(p)) return p;
    }
    throw new Error(`no FSVM holds ${share}/${portion}`);
  }

  function expectEqualEverywhere() {
    for (const [src, dst, portion] of [
      ['eng', 'eng', ''],
      ['ops', 'ops-dr', ''],
      ['home', 'home', 'alice'],
      ['home', 'home', 'bob'],
      ['home', 'home', 'carol'],
    ] as const) {
      expect({ [`${dst}/${portion}`]: contentDigest(live(sideB(), dst, portion)) }).toEqual({
        [`${dst}/${portion}`]: contentDigest(live(sideA(), src, portion)),
      });
    }
  }

  async function modes(agents: Agent[], share: string) {
    return [
      ...new Set(
        await Promise.all(agents.map(async (a) => (await a.client.findShare(share))?.accessMode).filter(Boolean)),
      ),
    ]
      .filter((m) => m !== undefined)
      .sort();
  }

  it('fails over with no data loss: final delta, verified, destination read-write, source read-only', async () => {
    // Writes after the last replication: only the final delta carries them.
    writeFiles(lab.livePath(lab.agents.a1, 'eng'), { 'late.txt': 'written after the last run\n' });
    writeFiles(lab.livePath(lab.agents.a2, 'home', 'carol'), { 'chapter2.tex': 'more\n' });
    fs.rmSync(`${lab.livePath(lab.agents.a1, 'home', 'bob')}/todo.txt`);

    const watch = watchSplitBrain({ source: sideA(), destination: sideB() }, pairs);
    const op = await runOperation(lab, 'planned-failover');
    const seen = await watch.stop();
    expect(op.error).toBeNull();
    expect(op.state).toBe('succeeded');
    const steps = op.steps as { name: string; state: string }[];
    expect(steps.filter((s) => s.state !== 'succeeded')).toEqual([]);
    expect(seen.samples).toBeGreaterThan(5);
    expect(seen.violations).toEqual([]);
    expectEqualEverywhere();
    expect(fs.readFileSync(`${live(sideB(), 'eng')}/late.txt`, 'utf8')).toBe('written after the last run\n');
    for (const share of ['eng', 'home', 'ops-dr']) expect(await modes(sideB(), share)).toEqual(['read_write']);
    for (const share of ['eng', 'home', 'ops']) expect(await modes(sideA(), share)).toEqual(['read_only']);

    // The final delta ran as jobs of the operation; the pre-failover sets are kept; who is primary is recorded.
    const jobs = op.jobs as { state: string; percent: number }[];
    expect(jobs).toHaveLength(3);
    expect(jobs.every((j) => j.state === 'succeeded' && j.percent === 100)).toBe(true);
    const kept = await lab.database.db.snapshotSet.findMany({ where: { operationId: op.id, retained: true } });
    expect(kept.map((k) => k.share).sort()).toEqual(['eng', 'home', 'ops-dr']);
    const list = await request(lab.app).get('/api/v1/file-servers').set(lab.admin).expect(200);
    const byName = Object.fromEntries(
      (list.body.items as { name: string; status: string }[]).map((s) => [s.name, s.status]),
    );
    expect(byName).toEqual({ 'fs-a': 'standby', 'fs-b': 'active' });
  });

  it('fails back with no data loss: what clients wrote at the destination is at the source, replication runs forward again', async () => {
    writeFiles(live(sideB(), 'eng'), { 'during-failover.txt': 'written at site B\n' });
    writeFiles(live(sideB(), 'home', 'alice'), { 'b-side.txt': 'alice at B\n' });
    const watch = watchSplitBrain({ source: sideA(), destination: sideB() }, pairs);
    const op = await runOperation(lab, 'failback');
    const seen = await watch.stop();
    expect(op.error).toBeNull();
    expect(op.state).toBe('succeeded');
    expect(seen.violations).toEqual([]);
    expectEqualEverywhere();
    expect(fs.readFileSync(`${live(sideA(), 'eng')}/during-failover.txt`, 'utf8')).toBe('written at site B\n');
    for (const share of ['eng', 'home', 'ops']) expect(await modes(sideA(), share)).toEqual(['read_write']);
    for (const share of ['eng', 'home', 'ops-dr']) expect(await modes(sideB(), share)).toEqual(['read_only']);
    const shares = await lab.database.db.policyShare.findMany();
    expect(shares.every((s) => s.primary === 'source' && !s.paused)).toBe(true);
    // Forward replication is restored: a write at A reaches B.
    writeFiles(lab.livePath(lab.agents.a1, 'eng'), { 'after-failback.txt': 'back home\n' });
    await request(lab.app).post('/api/v1/policies/gold/shares/eng/replicate').set(lab.admin).expect(202);
    await waitUntil(
      'the write to reach fs-b',
      async () => fs.existsSync(`${live(sideB(), 'eng')}/after-failback.txt`),
      60_000,
    );
  });
});
