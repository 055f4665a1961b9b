// Operation states that hold a pair of file servers: an operation waiting for approval or for its start time holds
// it as much as a running one (a second one would plan against a state the first is about to change).
import type { OperationState } from '../../prisma/generated/client';

export const ACTIVE_OPERATION_STATES: OperationState[] = ['pending', 'awaiting_approval', 'scheduled', 'running'];
