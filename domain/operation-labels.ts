// How operations are named to people, in one place for every client (the CLI and the web UI): each kind's label and, for the DR operations, what it does in
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
    'Brings the destination up from its last complete snapshot sets and moves clients there; changes made on the source after those sets are lost. The source is fenced: as soon as it answers again its shares are made read-only (or off).',
  resume_replication:
    'After an unplanned failover: chooses which side is the primary, keeps the other side’s divergent writes in a safety snapshot, and replicates from the primary again.',
  failback:
    'Moves clients back to the source after a failover: the destination is made read-only, its last changes are replicated to the source, then clients go back.',
  dr_readiness: 'Checks that the destination could take over now (FSVMs, snapshot sets, capacity, directory rights).',
} as const;
