// Every workflow type the worker registers. Workflow code is deterministic: see the lint rules in eslint.config.mjs.
export { diagnosticsWorkflow } from './diagnostics';
export { checkDirectoryWorkflow } from './directory-check';
export { createPolicyWorkflow, updatePolicyWorkflow, deletePolicyWorkflow } from './policy';
export { replicateShareWorkflow } from './replicate-share';
export { rpoMonitorWorkflow } from './rpo-monitor';
export { drReadinessWorkflow } from './readiness';
export { plannedFailoverWorkflow, failbackWorkflow } from './switchover';
export { unplannedFailoverWorkflow } from './unplanned-failover';
export { resumeReplicationWorkflow } from './resume-replication';
export { fenceWorkflow } from './fence';
export { operationPlanWorkflow } from './operation-plan';
export { createShareWorkflow, deleteShareWorkflow } from './shares';
