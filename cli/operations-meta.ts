// The DR operations as the CLI calls them: their kinds, labels and purpose (domain/operation-labels.ts, shared with
// other clients) and their API paths.
import type { Operation } from './api-types';
import { OPERATION_LABELS as LABELS, OPERATION_PURPOSE as PURPOSE } from '../domain/operation-labels';

export type OperationKind = keyof typeof PURPOSE;
export type AnyOperationKind = Operation['kind'];

export const OPERATION_LABELS: Record<AnyOperationKind, string> = LABELS;
export const OPERATION_PURPOSE: Record<OperationKind, string> = PURPOSE;

/** POST /api/v1/operations/<kind with dashes>. */
export function operationPath(kind: OperationKind): string {
  return `/operations/${kind.replace(/_/g, '-')}`;
}

export const ENDED_STATES = new Set(['succeeded', 'failed', 'cancelled']);
