// Every workflow type the orchestrator starts by name: the API (operations, policies), the schedules' actions
// (replication) and the worker (the monitor loop). The replay guard (test/replay.test.ts) fails unless each one is
// registered on the worker (workflows/index.ts) and has a recorded history, so no type can be started that no worker
// runs: such a workflow would never make progress and its operation would stay pending.
import { FENCE_WORKFLOW_TYPE, OPERATION_WORKFLOW_TYPES, PLAN_WORKFLOW_TYPE } from './operations';
import { POLICY_WORKFLOW_TYPES } from './policy';
import { REPLICATE_WORKFLOW_TYPE } from './replication';

export const RPO_MONITOR_WORKFLOW_TYPE = 'rpoMonitorWorkflow';

export const STARTABLE_WORKFLOW_TYPES: readonly string[] = [
  ...Object.values(OPERATION_WORKFLOW_TYPES),
  ...Object.values(POLICY_WORKFLOW_TYPES),
  REPLICATE_WORKFLOW_TYPE,
  RPO_MONITOR_WORKFLOW_TYPE,
  PLAN_WORKFLOW_TYPE,
  FENCE_WORKFLOW_TYPE,
];
