// Determinism guard: every recorded history (test/fixtures/histories/<workflowType>/*.json, made with
// `npm run record-history`) must replay against the current workflow code without a non-determinism error; every
// workflow type the worker registers must have at least one recorded history; and every type the orchestrator starts
// by name (domain/workflow-types.ts: the API's operations and policies, the schedules' actions, the monitor) must be
// registered on the worker, or its workflows would never run.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { STARTABLE_WORKFLOW_TYPES } from '../domain/workflow-types';
import * as workflows from '../workflows';
import { testEnvironment } from './helpers/environment';

const FIXTURES = path.join(__dirname, 'fixtures', 'histories');

function fixtures(): { type: string; file: string }[] {
  if (!fs.existsSync(FIXTURES)) return [];
  return fs.readdirSync(FIXTURES).flatMap((type) =>
    fs
      .readdirSync(path.join(FIXTURES, type))
      .filter((f) => f.endsWith('.json'))
      .map((f) => ({ type, file: path.join(FIXTURES, type, f) })),
  );
}

describe('workflow replay', () => {
  it('has a recorded history for every registered workflow type', () => {
    const recorded = new Set(fixtures().map((f) => f.type));
    const missing = Object.keys(workflows).filter((name) => !recorded.has(name));
    expect(missing).toEqual([]);
  });

  it('registers every workflow type the orchestrator starts by name', () => {
    const registered = new Set(Object.keys(workflows));
    expect(STARTABLE_WORKFLOW_TYPES.filter((t) => !registered.has(t))).toEqual([]);
  });

  it.each(fixtures().map((f) => [path.relative(FIXTURES, f.file), f] as const))(
    'replays %s without non-determinism',
    async (_name, { file }) => {
      const history = JSON.parse(fs.readFileSync(file, 'utf8'));
      await Worker.runReplayHistory({ workflowBundle: { codePath: testEnvironment().workflowBundlePath } }, history);
    },
  );
});
