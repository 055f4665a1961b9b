// Every workflow type the worker registers. Workflow code is deterministic: see the lint rules in eslint.config.mjs.
export { diagnosticsWorkflow } from './diagnostics';
export { createPolicyWorkflow, updatePolicyWorkflow, deletePolicyWorkflow } from './policy';
export { replicateShareWorkflow } from './replicate-share';
export { rpoMonitorWorkflow } from './rpo-monitor';
export { createShareWorkflow, deleteShareWorkflow } from './shares';
