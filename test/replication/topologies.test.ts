// The replication topologies an operator builds from policies, across three sites: one-to-many (shares of fs-a to
// fs-b and to fs-c), many-to-one (fs-a and fs-c into fs-b), bidirectional (fs-a -> fs-b and fs-b -> fs-a, different
// shares) and cascaded (fs-a -> fs-b -> fs-c of the same data). Each lands byte for byte.
import fs from 'node:fs';
import request from 'supertest';
import { scheduleId } from '../../domain/replication';
import { writeFiles, type Agent } from '../gateway/helpers';
import { contentDigest, startLab, waitUntil, type Lab } from './lab';

jest.setTimeout(240_000);

describe('replication topologies', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ thirdSite: true });
    const { a1, a2, b1, c1 } = lab.agents;
    const shares: [Agent, string, Record<string, string>][] = [
      [a1, 'eng', { 'design.md': 'v1\n' }],
      [a2, 'ops', { 'runbook.txt': 'restart\n' }],
      [c1!, 'lab', { 'results.csv': '1,2,3\n' }],
      [b1, 'finance', { 'ledger.txt': 'q3\n' }],
    ];
    for (const [agent, share, files] of shares) {
      await agent.client.createShare(share);
      writeFiles(lab.livePath(agent, share), files);
    }
  });
  afterAll(async () => lab?.close());

  async function policy(
    name: string,
    source: string,
    destination: string,
    shares: { source: string; target?: string }[],
  ) {
    const res = await request(lab.app)
      .post('/api/v1/policies')
      .set(lab.admin)
      .send({ name, source, destination, rpoMinutes: 5, shares });
    expect([res.status, res.body.detail]).toEqual([202, undefined]);
    await lab.temporal.workflow.getHandle(res.body.workflowId).result();
  }

  /**
   * Waits for a run of `policyName`'s `share` that started at `since` or later to succeed. Counted per policy and from
   * the moment the test acted: the schedules also fire on their own (every 225 s), and two policies share 'eng'.
   */
  async function replicated(policyName: string, share: string, since: Date) {
    await waitUntil(`a run of '${share}' by ${policyName}`, async () =>
      lab.database.db.job.findFirst({
        where: { share, state: 'succeeded', policy: { name: policyName }, startedAt: { gte: since } },
      }),
    );
  }

  function on(agents: Agent[], share: string): string {
    const found = agents.map((a) => lab.livePath(a, share)).find((p) => fs.existsSync(p) && fs.readdirSync(p).length);
    if (!found) throw new Error(`'${share}' is on none of ${agents.map((a) => a.nodeId).join(', ')}`);
    return found;
  }

  it('one-to-many, many-to-one and bidirectional policies each land their shares', async () => {
    const { a1, a2, b1, b2, c1 } = lab.agents;
    const since = new Date();
    await policy('a-to-b', 'fs-a', 'fs-b', [{ source: 'eng' }]);
    await policy('a-to-c', 'fs-a', 'fs-c', [{ source: 'ops' }]); // one-to-many: fs-a -> fs-b and fs-a -> fs-c
    await policy('c-to-b', 'fs-c', 'fs-b', [{ source: 'lab' }]); // many-to-one: fs-a and fs-c -> fs-b
    await policy('b-to-a', 'fs-b', 'fs-a', [{ source: 'finance' }]); // bidirectional with a-to-b
    for (const [name, share] of [
      ['a-to-b', 'eng'],
      ['a-to-c', 'ops'],
      ['c-to-b', 'lab'],
      ['b-to-a', 'finance'],
    ] as const) {
      await replicated(name, share, since);
    }
    expect(contentDigest(on([b1, b2], 'eng'))).toEqual(contentDigest(lab.livePath(a1, 'eng')));
    expect(contentDigest(on([c1!], 'ops'))).toEqual(contentDigest(lab.livePath(a2, 'ops')));
    expect(contentDigest(on([b1, b2], 'lab'))).toEqual(contentDigest(lab.livePath(c1!, 'lab')));
    expect(contentDigest(on([a1, a2], 'finance'))).toEqual(contentDigest(lab.livePath(b1, 'finance')));
  });

  it('cascades fs-a -> fs-b -> fs-c, and refuses a loop back to the source', async () => {
    const { a1, b1, b2, c1 } = lab.agents;
    const created = new Date();
    await policy('b-to-c', 'fs-b', 'fs-c', [{ source: 'eng', target: 'eng-2' }]); // its 'eng' is fs-b's replica
    await replicated('b-to-c', 'eng', created);
    expect(contentDigest(on([c1!], 'eng-2'))).toEqual(contentDigest(lab.livePath(a1, 'eng')));

    // A change at the origin travels both hops.
    writeFiles(lab.livePath(a1, 'eng'), { 'design.md': 'v2\n' });
    const firstHop = new Date();
    await lab.temporal.schedule.getHandle(scheduleId('a-to-b', 'eng')).trigger();
    await replicated('a-to-b', 'eng', firstHop);
    expect(contentDigest(on([b1, b2], 'eng'))).toEqual(contentDigest(lab.livePath(a1, 'eng')));
    const secondHop = new Date();
    await lab.temporal.schedule.getHandle(scheduleId('b-to-c', 'eng')).trigger();
    await replicated('b-to-c', 'eng', secondHop);
    expect(fs.readFileSync(`${on([c1!], 'eng-2')}/design.md`, 'utf8')).toBe('v2\n');

    const loop = await request(lab.app)
      .post('/api/v1/policies')
      .set(lab.admin)
      .send({
        name: 'loop',
        source: 'fs-b',
        destination: 'fs-a',
        rpoMinutes: 5,
        shares: [{ source: 'eng', target: 'eng-back' }],
      });
    expect(loop.status).toBe(409);
    expect(loop.body.detail).toMatch(/replicating it back would loop/);
  });
});
