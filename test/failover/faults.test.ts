// Faults during DR operations, against real gateways. A failure at each step of a planned failover before its point
// of no return leaves the exact previous state (source read-write, destination read-only, schedules running, nothing
// recorded as moved, the source's data untouched); a failback, an unplanned failover and a resume that fail before
// theirs likewise end failed with the reason; a destination FSVM that is down stops a planned failover at readiness,
// naming it; a domain controller stopped during the redirect step is reported in words, retried, and the operation
// completes once it is back.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../activities';
import { claimLoopbackAddress, releaseLoopbackAddress } from '../../infra/loopback-address';
import { startDomainController, type DomainController } from '../../infra/samba-dc';
import { scheduleId } from '../../domain/replication';
import { writeFiles, type Agent } from '../gateway/helpers';
import { addressesOf, dig } from '../helpers/directory-fixture';
import { REALM } from '../helpers/domain-controller';
import { contentDigest, startLab, waitUntil, type Lab } from '../replication/lab';
import { protect, runOperation } from './helpers';

jest.setTimeout(300_000);

/** The next call of `activity` (for which `when` holds) fails, once, after (or instead of) doing its work. */
interface Injection {
  activity: keyof Activities;
  when?: (input: any) => boolean;
  /** Do the real work first, then fail (the step had an effect the undo must reverse). */
  after?: boolean;
  /** Instead of failing: run this first (e.g. stop the domain controller), then the real call. */
  before?: () => Promise<void>;
}
let inject: Injection | null = null;

function injecting(real: Activities): Partial<Activities> {
  const wrapped: Record<string, unknown> = {};
  const byName = real as unknown as Record<string, (...args: any[]) => Promise<unknown>>;
  for (const name of Object.keys(real)) {
    const fn = byName[name]!;
    wrapped[name] = async (...args: any[]) => {
      const i = inject;
      if (!i || i.activity !== name || (i.when && !i.when(args[0]))) return fn(...args);
      inject = null;
      if (i.before) {
        await i.before();
        return fn(...args);
      }
      if (i.after) await fn(...args);
      throw ApplicationFailure.nonRetryable(`injected failure in ${name}`, 'INJECTED');
    };
  }
  return wrapped;
}

async function modeOn(agents: Agent[], share: string) {
  const modes = await Promise.all(agents.map(async (a) => (await a.client.findShare(share))?.accessMode));
  return [...new Set(modes.filter((m) => m !== undefined))].sort();
}

describe('a planned failover that fails before its point of no return', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ wrap: injecting });
    await lab.agents.a1.client.createShare('eng');
    await lab.agents.a1.client.createShare('home', { kind: 'distributed', portions: ['alice'] });
    await lab.agents.a2.client.createShare('home', { kind: 'distributed', portions: ['bob'] });
    writeFiles(lab.livePath(lab.agents.a1, 'eng'), { 'a.txt': 'eng\n' });
    writeFiles(lab.livePath(lab.agents.a1, 'home', 'alice'), { 'n.txt': 'alice\n' });
    writeFiles(lab.livePath(lab.agents.a2, 'home', 'bob'), { 'n.txt': 'bob\n' });
    await protect(lab, 'faults-gold', ['eng', 'home']);
  });
  afterAll(async () => lab?.close());

  const siteA = () => [lab.agents.a1, lab.agents.a2];
  const siteB = () => [lab.agents.b1, lab.agents.b2];
  const sourceTrees = () => ({
    eng: contentDigest(lab.livePath(lab.agents.a1, 'eng')),
    alice: contentDigest(lab.livePath(lab.agents.a1, 'home', 'alice')),
    bob: contentDigest(lab.livePath(lab.agents.a2, 'home', 'bob')),
  });

  async function expectPreviousState(before: ReturnType<typeof sourceTrees>) {
    for (const share of ['eng', 'home']) {
      expect({ share, modes: await modeOn(siteA(), share) }).toEqual({ share, modes: ['read_write'] });
      expect({ share, modes: await modeOn(siteB(), share) }).toEqual({ share, modes: ['read_only'] });
      const schedule = await lab.temporal.schedule.getHandle(scheduleId('faults-gold', share)).describe();
      expect({ share, paused: schedule.state.paused }).toEqual({ share, paused: false });
    }
    const rows = await lab.database.db.policyShare.findMany({ select: { primary: true, paused: true } });
    expect(rows).toEqual([
      { primary: 'source', paused: false },
      { primary: 'source', paused: false },
    ]);
    expect(sourceTrees()).toEqual(before);
    const list = await request(lab.app).get('/api/v1/file-servers').set(lab.admin).expect(200);
    expect(
      Object.fromEntries((list.body.items as { name: string; status: string }[]).map((s) => [s.name, s.status])),
    ).toEqual({
      'fs-a': 'active',
      'fs-b': 'standby',
    });
  }

  const cases: [string, Injection][] = [
    ['check readiness', { activity: 'checkCapacity' }],
    ['pause schedules', { activity: 'pauseReplication', when: (i: { paused: boolean }) => i.paused, after: true }],
    ['stop replication runs', { activity: 'stopReplicationRuns' }],
    [
      'make source shares read-only',
      {
        activity: 'setShareAccess',
        when: (i: { side: string; mode: string }) => i.side === 'source' && i.mode !== 'read_write',
        after: true,
      },
    ],
    ['final delta sync', { activity: 'commitSnapshotSet', after: true }],
    ['verify destination', { activity: 'verifyShares' }],
    ['take pre-failover snapshots', { activity: 'takeRetainedSets', after: true }],
  ];

  it.each(cases)('a failure at "%s" leaves everything as it was, and says why', async (step, injection) => {
    writeFiles(lab.livePath(lab.agents.a1, 'eng'), {
      [`${step.replace(/ /g, '-')}.txt`]: 'a write before the attempt\n',
    });
    const before = sourceTrees();
    inject = injection;
    const op = await runOperation(lab, 'planned-failover');
    expect(inject).toBeNull(); // the failure was injected
    expect(op.state).toBe('failed');
    expect(op.error).toMatch(/injected failure in|not ready/);
    const failed = (op.steps as { name: string; state: string }[]).find((s) => s.state === 'failed');
    expect(failed?.name).toBe(step);
    await expectPreviousState(before);
  });

  it('a destination FSVM that is down: readiness names it, and the failover does not start', async () => {
    await lab.agents.b2.stop();
    const before = sourceTrees();
    try {
      const op = await runOperation(lab, 'planned-failover');
      expect(op.state).toBe('failed');
      expect(op.error).toMatch(/^not ready: gateways reachable: FSVM 'b2' of 'fs-b' does not answer/);
      expect((op.steps as { name: string; state: string }[]).slice(1).every((s) => s.state === 'pending')).toBe(true);
      const readiness = await runOperation(lab, 'dr-readiness');
      expect(readiness.state).toBe('failed');
      const steps = readiness.steps as { name: string }[];
      expect(steps.find((s) => s.name === 'gateways reachable')).toMatchObject({
        state: 'failed',
        detail: expect.stringMatching(/FSVM 'b2' of 'fs-b' does not answer/),
      });
    } finally {
      await lab.agents.b2.restart();
    }
    await expectPreviousState(before);
  });

  it('a failback, an unplanned failover and a resume that fail before their point of no return end failed, saying why', async () => {
    // Fail over for real, then make the failback fail at its verification: it undoes, the destination stays primary.
    const over = await runOperation(lab, 'planned-failover');
    expect(over.state).toBe('succeeded');
    inject = { activity: 'verifyShares' };
    const back = await runOperation(lab, 'failback');
    expect(back).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/injected failure in verifyShares.*undone/),
    });
    for (const share of ['eng', 'home']) {
      expect(await modeOn(siteB(), share)).toEqual(['read_write']);
      expect(await modeOn(siteA(), share)).toEqual(['read_only']);
    }
    expect((await lab.database.db.policyShare.findMany()).every((s) => s.primary === 'destination')).toBe(true);
    // Back home for real, then an unplanned failover that fails while selecting its sets: the fence is lifted again.
    expect((await runOperation(lab, 'failback')).state).toBe('succeeded');
    inject = { activity: 'selectRecoveryPoints' };
    const unplanned = await runOperation(lab, 'unplanned-failover', {
      source: 'fs-a',
      destination: 'fs-b',
      confirmDataLoss: true,
    });
    expect(unplanned).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/injected failure.*fence lifted/),
    });
    expect((await lab.database.db.fileServer.findUniqueOrThrow({ where: { name: 'fs-a' } })).fencedAt).toBeNull();
    for (const share of ['eng', 'home']) expect(await modeOn(siteA(), share)).toEqual(['read_write']);
    // An unplanned failover for real, then a resume that cannot find its common sets: nothing changes.
    expect(
      (await runOperation(lab, 'unplanned-failover', { source: 'fs-a', destination: 'fs-b', confirmDataLoss: true }))
        .state,
    ).toBe('succeeded');
    inject = { activity: 'commonSets' };
    const resume = await runOperation(lab, 'resume-replication');
    expect(resume).toMatchObject({ state: 'failed', error: 'injected failure in commonSets' });
    expect((await lab.database.db.policyShare.findMany()).every((s) => s.primary === 'destination' && s.paused)).toBe(
      true,
    );
    expect((await runOperation(lab, 'resume-replication')).state).toBe('succeeded');
  });
});

describe('a domain controller that stops during the redirect step', () => {
  let lab: Lab;
  let dc: DomainController;
  let address: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-dc-stop-'));
  beforeAll(async () => {
    // A DC of its own, so that stopping it does not disturb the other test files.
    address = await claimLoopbackAddress();
    dc = await startDomainController({ dir, address, realm: REALM });
    lab = await startLab({ clients: { dc }, wrap: injecting });
    await lab.agents.a1.client.createShare('docs');
    writeFiles(lab.livePath(lab.agents.a1, 'docs'), { 'a.txt': 'docs\n' });
    await protect(lab, 'faults-gold', ['docs']);
  }, 240_000);
  afterAll(async () => {
    await lab?.close();
    await dc?.stop();
    await releaseLoopbackAddress(address);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports it in words, retries, and completes once the DC is back', async () => {
    inject = { activity: 'redirectClients', before: () => dc.stop() };
    const res = await request(lab.app)
      .post('/api/v1/operations/planned-failover')
      .set(lab.admin)
      .send({ source: 'fs-a', destination: 'fs-b' })
      .expect(202);
    const opUrl = `/api/v1/operations/${res.body.operationId}`;
    const waiting = await waitUntil(
      'the redirect step to report the stopped DC',
      async () => {
        const op = (await request(lab.app).get(opUrl).set(lab.admin)).body as {
          steps: { name: string; state: string; detail: string | null }[];
        };
        const step = op.steps.find((s) => s.name === 'redirect clients')!;
        return (
          step.state === 'running' &&
          /attempt \d+ failed: .*(ECONNREFUSED|unreachable|did not answer)/i.test(step.detail ?? '') &&
          step
        );
      },
      120_000,
    );
    expect(waiting.detail).toMatch(/retrying in \d+s$/);
    // The point of no return was passed: clients already write to site B, the old side is read-only.
    expect(await modeOn([lab.agents.b1, lab.agents.b2], 'docs')).toEqual(['read_write']);
    dc = await startDomainController({ dir, address, realm: REALM });
    await lab.temporal.workflow.getHandle(res.body.workflowId).result();
    const op = (await request(lab.app).get(opUrl).set(lab.admin)).body as Record<string, any>;
    expect(op.state).toBe('succeeded');
    const fqdn = lab.clients!.names['fs-a'].fqdn;
    expect(addressesOf((await dig(dc, fqdn)).answers, fqdn)).toEqual(
      [lab.clients!.addresses.b1, lab.clients!.addresses.b2].sort(),
    );
  });
});
