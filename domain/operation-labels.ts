// How operations are named to people, in one place for every client (the CLI; the web UI keeps its own copy in
// web/src/operation-types.ts until it imports this): each kind's label and, for the DR operations, what it does in
// one sentence, shown above its plan. Plain constants without imports, so a client can bundle them cheaply.

export const OPERATION_LABELS = {
  planned_failover: 'Planned failover',
  unplanned_failover: 'Unplanned failover',
  resume_replication: 'Resume replication',
  failback: 'Failback',
  dr_readiness: 'Readiness check',
  policy_create: 'Create policy',
  policy_update: 'Update policy',
  policy_delete: 'Delete policy',
  share_create: 'Create share',
  share_delete: 'Delete share',
} as const;

export const OPERATION_PURPOSE = {
  planned_failover:
    'Makes the source read-only, replicates the last changes, and moves clients to the destination: no data is lost.',
  unplanned_failover:
    'Brings the destination up from its last complete snapshot sets and moves clients there; changes made on the source after those sets are lost.',
  resume_replication:
    "After a failover: keeps the chosen primary's data, protects the other side's divergent writes in safety snapshots, and replicates again.",
  failback: 'Moves clients back to the source after a failover, with a final sync first: no data is lost.',
  dr_readiness: 'Checks that the destination could take over now (FSVMs, capacity, recovery points, directory).',
} as const;
