// The API's port to Temporal tells an answer from Temporal apart from no answer: a workflow id that is already running
// (another API process started the same change) is a conflict, not "Temporal cannot be reached".
import { createWorkflowPort, TemporalUnavailable } from '../../api/temporal';
import { ConflictError } from '../../domain/errors';
import { connectClient } from '../../infra/temporal';
import { testEnvironment, uniqueName } from '../helpers/environment';

describe('the API workflow port', () => {
  it('reports a workflow id already running as a conflict, and an unreachable server as unavailable', async () => {
    const client = await connectClient(testEnvironment().temporalAddress, 'default');
    const taskQueue = uniqueName('port'); // no worker polls it: the workflow stays running until terminated below
    const port = createWorkflowPort(client, taskQueue, undefined, 10_000, async () => 1);
    const workflowId = uniqueName('port-wf');
    const req = { workflowType: 'drReadinessWorkflow', workflowId, input: {}, searchAttributes: [] };
    try {
      await port.start(req);
      await expect(port.start(req)).rejects.toThrow(ConflictError);
      await expect(port.start(req)).rejects.toThrow(`workflow '${workflowId}' is already running`);
    } finally {
      await client.workflow.getHandle(workflowId).terminate('test done');
      await client.connection.close();
    }
    const nowhere = await connectClient(testEnvironment().temporalAddress, 'default');
    await nowhere.connection.close(); // a closed connection: no answer at all
    await expect(
      createWorkflowPort(nowhere, taskQueue, undefined, 2_000, async () => 1).start({
        ...req,
        workflowId: uniqueName('port-wf'),
      }),
    ).rejects.toThrow(TemporalUnavailable);
  });
});
