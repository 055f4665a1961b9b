// What the failover tests do again and again through the real API: protect shares with a policy and wait for their
// base copies, and run an operation to its end and read it back as an operator would.
import request from 'supertest';
import { waitUntil, type Lab } from '../replication/lab';

/** Creates a policy from fs-a to fs-b and waits until every share's base copy has succeeded. */
export async function protect(
  lab: Lab,
  name: string,
  shares: ({ source: string; target?: string } | string)[],
  rpoMinutes = 30,
): Promise<void> {
  const res = await request(lab.app)
    .post('/api/v1/policies')
    .set(lab.admin)
    .send({
      name,
      source: 'fs-a',
      destination: 'fs-b',
      rpoMinutes,
      shares: shares.map((s) => (typeof s === 'string' ? { source: s } : s)),
    });
  if (res.status !== 202) throw new Error(`policy ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  await lab.temporal.workflow.getHandle(res.body.workflowId as string).result();
  // Counted per share of this policy: other policies' schedules may finish runs meanwhile.
  await waitUntil(
    `the base copies of policy ${name}`,
    async () => {
      const done = await lab.database.db.job.findMany({
        where: { state: 'succeeded', policy: { name } },
        distinct: ['share'],
        select: { share: true },
      });
      return done.length >= shares.length;
    },
    120_000,
  );
}

/** Starts an operation (202 expected), waits for its workflow to end, and answers the operation as the API shows it. */
export async function runOperation(
  lab: Lab,
  kind: string,
  body: object = { source: 'fs-a', destination: 'fs-b' },
): Promise<Record<string, any>> {
  const res = await request(lab.app).post(`/api/v1/operations/${kind}`).set(lab.admin).send(body);
  if (res.status !== 202) throw new Error(`${kind}: ${res.status} ${JSON.stringify(res.body)}`);
  await lab.temporal.workflow
    .getHandle(res.body.workflowId as string)
    .result()
    .catch(() => undefined); // a failed operation is read back below, with its reason
  return (await request(lab.app).get(`/api/v1/operations/${res.body.operationId}`).set(lab.admin)).body as Record<
    string,
    any
  >;
}
