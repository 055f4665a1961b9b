// Protection end to end, as an operator sees it: a policy over three shares of fs-a (one distributed over both FSVMs)
// created through the API, its schedules, the base copy to fs-b, then an incremental run that carries exactly the
// writes, deletes and renames made in between. Real API, worker, Temporal, PostgreSQL and gateway agents.
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { scheduleId, scheduleTiming } from '../../domain/replication';
import { randomBytesDeterministic, treeDigest, writeFiles, type Agent } from '../gateway/helpers';
import { contentDigest, startLab, waitUntil, type Lab } from './lab';

jest.setTimeout(180_000);

describe('policy create and scheduled replication (2+2 FSVMs)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab();
    const { a1, a2 } = lab.agents;
    await a1.client.createShare('eng');
    await a2.client.createShare('ops');
    await a1.client.createShare('home', { kind: 'distributed', portions: ['alice', 'bob'] });
    await a2.client.createShare('home', { kind: 'distributed', portions: ['carol'] });
    writeFiles(lab.livePath(a1, 'eng'), {
      'README.md': 'engineering\n',
      'src/main.c': 'int main(void) { return 0; }\n',
      'big/blob.bin': randomBytesDeterministic(3 * 1024 * 1024, 7),
    });
    fs.symlinkSync('src/main.c', path.join(lab.livePath(a1, 'eng'), 'main-link'));
    fs.chmodSync(path.join(lab.livePath(a1, 'eng'), 'src/main.c'), 0o750);
    writeFiles(lab.livePath(a2, 'ops'), { 'runbook.txt': 'restart the thing\n' });
    writeFiles(lab.livePath(a1, 'home', 'alice'), {
      'notes.txt': 'alice\n',
      'photo.raw': randomBytesDeterministic(512 * 1024, 1),
    });
    writeFiles(lab.livePath(a1, 'home', 'bob'), { 'todo.txt': 'bob\n' });
    writeFiles(lab.livePath(a2, 'home', 'carol'), { 'thesis.tex': '\\documentclass{article}\n' });
  });
  afterAll(async () => lab?.close());

  /** Where a destination portion lives: the dataset map decides, the test only looks on both FSVMs. */
  function destPath(share: string, portion = ''): string {
    for (const node of [lab.agents.b1, lab.agents.b2] as Agent[]) {
      const p = lab.livePath(node, share, portion);
      if (fs.existsSync(p) && fs.readdirSync(p).length) return p;
    }
    throw new Error(`no destination FSVM holds ${share}/${portion}`);
  }

  function expectReplicated() {
    const { a1, a2 } = lab.agents;
    expect(contentDigest(destPath('eng'))).toEqual(contentDigest(lab.livePath(a1, 'eng')));
    expect(contentDigest(destPath('ops-dr'))).toEqual(contentDigest(lab.livePath(a2, 'ops')));
    for (const [node, portion] of [
      [a1, 'alice'],
      [a1, 'bob'],
      [a2, 'carol'],
    ] as const) {
      expect(contentDigest(destPath('home', portion))).toEqual(contentDigest(lab.livePath(node, 'home', portion)));
    }
  }

  async function succeededJobs(share: string) {
    return lab.database.db.job.findMany({ where: { share, state: 'succeeded' }, orderBy: { startedAt: 'asc' } });
  }

  it('creates the policy all-or-nothing, then the base copy lands on fs-b by checksum', async () => {
    const res = await request(lab.app)
      .post('/api/v1/policies')
      .set(lab.admin)
      .send({
        name: 'repl-gold',
        source: 'fs-a',
        destination: 'fs-b',
        rpoMinutes: 5,
        retentionCount: 2,
        shares: [{ source: 'eng' }, { source: 'ops', target: 'ops-dr' }, { source: 'home' }],
      });
    expect(res.status).toBe(202);
    await lab.temporal.workflow.getHandle(res.body.workflowId).result();

    const policy = await request(lab.app).get('/api/v1/policies/repl-gold').set(lab.admin).expect(200);
    expect(policy.body.status).toBe('active');
    const op = await lab.database.db.operation.findFirstOrThrow({ where: { workflowId: res.body.workflowId } });
    expect(op.state).toBe('succeeded');
    expect((op.steps as { state: string }[]).every((s) => s.state === 'succeeded')).toBe(true);

    // One schedule per share, at the policy's RPO, each at its own phase of the interval, BUFFER_ONE.
    const phases = new Set<number>();
    for (const share of ['eng', 'ops', 'home']) {
      const d = await lab.temporal.schedule.getHandle(scheduleId('repl-gold', share)).describe();
      expect(d.spec.intervals?.[0]?.every).toBe(225_000); // 3/4 of the 5-minute RPO
      const offset = Number(d.spec.intervals?.[0]?.offset ?? 0);
      expect(offset).toBe(scheduleTiming(300, scheduleId('repl-gold', share)).offsetMs);
      phases.add(offset);
      expect(d.policies.overlap).toBe('BUFFER_ONE');
    }
    expect(phases.size).toBe(3);
    // The distributed share's portions are mapped to both destination FSVMs, with the reverse map kept.
    const map = await lab.database.db.datasetMapEntry.findMany({ where: { sourceShare: 'home' } });
    expect(
      map
        .filter((m) => !m.reverse)
        .map((m) => m.portion)
        .sort(),
    ).toEqual(['alice', 'bob', 'carol']);
    expect(map.filter((m) => m.reverse)).toHaveLength(3);
    expect(new Set(map.filter((m) => !m.reverse).map((m) => m.destNodeId))).toEqual(new Set(['b1', 'b2']));

    // The initial run of each share was started by the policy; wait for the three base copies.
    await waitUntil(
      'three base copies',
      async () => (await lab.database.db.job.count({ where: { state: 'succeeded' } })) >= 3,
    );
    const jobs = await lab.database.db.job.findMany({ include: { subJobs: true } });
    expect(jobs.map((j) => [j.share, j.incremental, j.state]).sort()).toEqual([
      ['eng', false, 'succeeded'],
      ['home', false, 'succeeded'],
      ['ops', false, 'succeeded'],
    ]);
    expect(jobs.find((j) => j.share === 'home')!.subJobs).toHaveLength(3);
    expect(Number(jobs.find((j) => j.share === 'eng')!.bytesSynced)).toBeGreaterThan(3 * 1024 * 1024);
    expect(jobs.every((j) => j.rpoCompliant)).toBe(true);
    expectReplicated();

    // Clients at the destination see the target shares read-only until a failover.
    const targets = await lab.agents.b1.client.listShares();
    expect(targets.every((s) => s.accessMode === 'read_only')).toBe(true);
  });

  it('an incremental run carries exactly the writes, deletes and renames made since', async () => {
    const { a1 } = lab.agents;
    const eng = lab.livePath(a1, 'eng');
    writeFiles(eng, { 'src/util.c': 'int util;\n', 'README.md': 'engineering, v2\n' });
    fs.rmSync(path.join(eng, 'main-link'));
    fs.renameSync(path.join(eng, 'src/main.c'), path.join(eng, 'src/app.c'));
    const bob = lab.livePath(a1, 'home', 'bob');
    fs.rmSync(path.join(bob, 'todo.txt'));
    writeFiles(bob, { 'done.txt': 'everything\n' });

    // Counted from now, not from the base copy: the schedules also fire on their own (every 225 s).
    const triggeredAt = new Date();
    for (const share of ['eng', 'home']) {
      await lab.temporal.schedule.getHandle(scheduleId('repl-gold', share)).trigger();
    }
    const startedSince = async (share: string) =>
      (await succeededJobs(share)).filter((j) => j.startedAt >= triggeredAt).length;
    await waitUntil(
      'incremental runs',
      async () => (await startedSince('eng')) >= 1 && (await startedSince('home')) >= 1,
    );
    const engRuns = await succeededJobs('eng');
    const incr = engRuns[engRuns.length - 1]!;
    expect(incr.incremental).toBe(true);
    expect(incr.baseSnapshotId).toBe(engRuns[engRuns.length - 2]!.snapshotSetId);
    // Only the change travels: a few hundred bytes of files plus metadata, not the 3 MiB blob again.
    expect(Number(incr.bytesSynced)).toBeLessThan(256 * 1024);
    expectReplicated();
    expect(fs.existsSync(path.join(destPath('eng'), 'src/main.c'))).toBe(false);
    expect(fs.readFileSync(path.join(destPath('eng'), 'src/app.c'), 'utf8')).toBe('int main(void) { return 0; }\n');
  });

  it('keeps the retention count of snapshot sets on both sides, and always the newest', async () => {
    for (const which of ['a second', 'a third']) {
      const before = (await succeededJobs('ops')).length;
      await lab.temporal.schedule.getHandle(scheduleId('repl-gold', 'ops')).trigger();
      await waitUntil(`${which} ops run`, async () => (await succeededJobs('ops')).length > before);
    }
    const runs = await succeededJobs('ops');
    const newest = runs[runs.length - 1]!.snapshotSetId!;
    await waitUntil('pruning', async () => {
      const src = await lab.agents.a2.client.listSnapshots('ops');
      return src.length === 2 && src.some((s) => s.id === newest);
    });
    const destNode = fs.existsSync(lab.livePath(lab.agents.b1, 'ops-dr')) ? lab.agents.b1 : lab.agents.b2;
    const dst = await destNode.client.listSnapshots('ops-dr');
    expect(dst.map((s) => s.id)).toContain(newest);
    expect(dst.length).toBeLessThanOrEqual(2);
  });

  it("a target share made read-write at the destination: the next run fails saying so, its clients' data stays", async () => {
    const { a2 } = lab.agents;
    const destNode = fs.existsSync(lab.livePath(lab.agents.b1, 'ops-dr')) ? lab.agents.b1 : lab.agents.b2;
    const target = lab.livePath(destNode, 'ops-dr');
    await destNode.client.setAccess('ops-dr', 'read_write');
    writeFiles(target, { 'written-at-site-b.txt': 'a client at the destination\n', 'runbook.txt': 'edited at B\n' });
    const clientData = treeDigest(target);
    writeFiles(lab.livePath(a2, 'ops'), { 'runbook.txt': 'restart the thing, then check\n' });
    const started = new Date();
    await lab.temporal.schedule.getHandle(scheduleId('repl-gold', 'ops')).trigger();
    const job = await waitUntil('the run to fail', async () =>
      lab.database.db.job.findFirst({ where: { share: 'ops', state: 'failed', startedAt: { gte: started } } }),
    );
    // The operator reads why, naming the share, and nothing at the destination changed or was left behind.
    expect(job.error).toMatch(/target share 'ops-dr' on fs-b is read_write/);
    expect(job.error).toMatch(/overwrite what clients wrote there/);
    expect(treeDigest(target)).toEqual(clientData);
    const receives = await destNode.client.listReceives();
    expect(receives.filter((r) => r.share === 'ops-dr' && r.state === 'received')).toEqual([]);
    // The refusal is not retried: the run's workflow ends, failed, right after recording the job.
    const run = await waitUntil(
      'the run to end',
      async () => {
        const d = await lab.temporal.workflow.getHandle(job.workflowId!).describe();
        return d.status.name === 'RUNNING' ? undefined : d;
      },
      15_000,
    );
    expect(run.status.name).toBe('FAILED');

    // Read-only again (clients at B are back on the replica): replication resumes and the replica follows the source.
    await destNode.client.setAccess('ops-dr', 'read_only');
    const before = (await succeededJobs('ops')).length;
    await lab.temporal.schedule.getHandle(scheduleId('repl-gold', 'ops')).trigger();
    await waitUntil('ops replicated again', async () => (await succeededJobs('ops')).length > before);
    expect(contentDigest(target)).toEqual(contentDigest(lab.livePath(a2, 'ops')));
  });

  it('a source FSVM goes down: its sub-job waits, and follows the portion to the FSVM that takes it over', async () => {
    const { a1, a2 } = lab.agents;
    // The schedule fires on its own every 225 s: a run already under way when a2 stops may have taken carol from a2
    // before it stopped. Start from a quiet share and follow only a run that began with a2 down.
    await waitUntil(
      'no run of home under way',
      async () => !(await lab.database.db.job.findFirst({ where: { share: 'home', state: 'running' } })),
      120_000,
    );
    const before = (await succeededJobs('home')).length;
    const stoppedAt = new Date();
    await a2.stop();
    await lab.temporal.schedule.getHandle(scheduleId('repl-gold', 'home')).trigger();
    const job = await waitUntil('the run to start', async () =>
      lab.database.db.job.findFirst({
        where: { share: 'home', state: 'running', startedAt: { gte: stoppedAt } },
        include: { subJobs: true },
      }),
    );
    // alice and bob (on a1) go through; carol's sub-job keeps retrying while a2 is down.
    await waitUntil('the portions of a1', async () => {
      const subs = await lab.database.db.subJob.findMany({ where: { jobId: job.id } });
      return subs.filter((x) => x.state === 'succeeded').length === 2 ? subs : undefined;
    });
    expect((await lab.database.db.job.findUniqueOrThrow({ where: { id: job.id } })).state).toBe('running');

    // a1 takes over a2's portion (on a file server the storage moves with it; here the data is copied over).
    fs.cpSync(lab.livePath(a2, 'home', 'carol'), lab.livePath(a1, 'home', 'carol'), {
      recursive: true,
      preserveTimestamps: true,
    });
    await a1.client.createShare('home', { kind: 'distributed', portions: ['alice', 'bob', 'carol'] });
    writeFiles(lab.livePath(a1, 'home', 'carol'), { 'chapter2.tex': 'written after the takeover\n' });

    await waitUntil('the run to finish', async () => (await succeededJobs('home')).length > before, 120_000);
    const carol = await lab.database.db.subJob.findFirstOrThrow({ where: { jobId: job.id, portion: 'carol' } });
    expect(carol.sourceNodeId).toBe('a1');
    expect(contentDigest(destPath('home', 'carol'))).toEqual(contentDigest(lab.livePath(a1, 'home', 'carol')));
    // The dataset map now records the new owner, so the next run starts from it.
    await lab.temporal.schedule.getHandle(scheduleId('repl-gold', 'home')).trigger();
    await waitUntil('one more run', async () => (await succeededJobs('home')).length > before + 1);
    const entry = await lab.database.db.datasetMapEntry.findFirstOrThrow({
      where: { portion: 'carol', reverse: false, sourceShare: 'home' },
    });
    expect(entry.sourceNodeId).toBe('a1');
  });
});
