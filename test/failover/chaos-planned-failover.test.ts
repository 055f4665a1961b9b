// kill -9 the worker at each activity of a planned failover in turn, and then at each activity of the failback that
// follows it (and once in the middle of a final delta's transfer), restarting it each time: both complete with no
// byte lost, the roles swapped as asked, the copies equal, and the split-brain watch (every copy's access mode every
// 100 ms, the whole file long) never sees both copies read-write. Each operation brings the lab to where the other
// starts, so one lab serves both. And a planned failover during which PostgreSQL restarts completes the same way.
import { summarize, type CycleReport } from '../helpers/chaos';
import { failback, operationScenario, plannedFailover, startChaosLab, sweep, type ChaosLab } from './chaos-lab';

jest.setTimeout(20 * 60_000);

describe('chaos: kill -9 the worker at every activity of a planned failover and of a failback', () => {
  let c: ChaosLab;
  const reports: CycleReport[] = [];
  beforeAll(async () => {
    // 4 MiB/s out of site A: the final delta of a 12 MiB write takes 3 s, long enough to be killed in its middle.
    c = await startChaosLab({ sourceBandwidth: '4M', ownPostgres: true });
  });
  afterAll(async () => {
    if (reports.length) console.log(summarize(reports));
    await c?.close();
  });

  it('a planned failover completes after a kill at each of its activities', async () => {
    const planned = operationScenario(c, plannedFailover(c), { after: [failback(c)] });
    // The failback of the undisturbed run and of each killed run brings the lab back.
    const { reports: r, activities } = await sweep(c, planned, 40);
    reports.push(...r);
    console.log(`planned failover's activities:\n${activities}`);
  });

  it('a failback completes after a kill at each of its activities', async () => {
    const back = operationScenario(c, failback(c), { before: [plannedFailover(c)] });
    const { reports: r, activities } = await sweep(c, back, 40);
    reports.push(...r);
    console.log(`failback's activities:\n${activities}`);
  });

  it('a planned failover completes when PostgreSQL restarts in its middle', async () => {
    // Held at its 24th activity (the final delta's startJob: a local activity, the run's first database write, with
    // the source already read-only), the database stops (fast shutdown: every connection of the worker's and the
    // API's pools is cut) and starts again on the same data.
    const before = c.postgres!.pid();
    reports.push(
      await c.harness.cycle(operationScenario(c, plannedFailover(c), { after: [failback(c)] }), {
        k: 24,
        at: 'hold',
        what: 'PostgreSQL restarted',
        during: () => c.postgres!.restart(),
      }),
    );
    expect(c.postgres!.pid()).not.toBe(before);
  });

  it('a planned failover completes after a kill in the middle of its final delta', async () => {
    const db = c.lab.database.db;
    const long = operationScenario(c, plannedFailover(c, 12 << 20), { after: [failback(c)] });
    reports.push(
      await c.harness.cycle(long, {
        activityType: 'transferPortion',
        at: 'middle',
        when: async () => {
          const job = await db.job.findFirst({ where: { operationId: long.operationId(), kind: 'final_delta' } });
          return !!job && job.bytesSynced > 0n && job.bytesSynced < job.bytesTotal;
        },
      }),
    );
    expect((await c.watch.stop()).violations).toEqual([]);
  });
});
