// kill -9 the worker at each activity of an unplanned failover in turn, then at each activity of a resume replication
// with the source as primary, and with the destination as primary, restarting it each time: each completes; the
// destination serves its newest complete snapshot set read-write and is primary after the failover, the source fenced
// read-only; a resume keeps the other side's divergent writes in a safety snapshot, rolls it back, lifts the fence and
// replicates from the primary (the copies end equal); and the split-brain watch never sees both copies read-write.
// Each operation brings the lab to where the next starts, so one lab serves all three.
import { summarize, type CycleReport } from '../helpers/chaos';
import {
  failback,
  operationScenario,
  resumeReplication,
  startChaosLab,
  sweep,
  unplannedFailover,
  type ChaosLab,
} from './chaos-lab';

jest.setTimeout(20 * 60_000);

describe('chaos: kill -9 the worker at every activity of an unplanned failover and of a resume replication', () => {
  let c: ChaosLab;
  const reports: CycleReport[] = [];
  beforeAll(async () => {
    c = await startChaosLab();
  });
  afterAll(async () => {
    if (reports.length) console.log(summarize(reports));
    await c?.close();
  });

  it('an unplanned failover completes after a kill at each of its activities', async () => {
    const unplanned = operationScenario(c, unplannedFailover(c), { after: [resumeReplication(c, 'source')] });
    const { reports: r, activities } = await sweep(c, unplanned, 20);
    reports.push(...r);
    console.log(`unplanned failover's activities:\n${activities}`);
  });

  it('a resume replication with the source as primary completes after a kill at each of its activities', async () => {
    const resume = operationScenario(c, resumeReplication(c, 'source'), { before: [unplannedFailover(c)] });
    const { reports: r, activities } = await sweep(c, resume, 20);
    reports.push(...r);
    console.log(`resume replication's (primary source) activities:\n${activities}`);
  });

  it('a resume replication with the destination as primary completes after a kill at each of its activities', async () => {
    // The destination stays primary after the resume: a failback brings the lab back to where the next run starts.
    const resume = operationScenario(c, resumeReplication(c, 'destination'), {
      before: [unplannedFailover(c)],
      after: [failback(c)],
    });
    const { reports: r, activities } = await sweep(c, resume, 20);
    reports.push(...r);
    console.log(`resume replication's (primary destination) activities:\n${activities}`);
    expect((await c.watch.stop()).violations).toEqual([]);
  });
});
