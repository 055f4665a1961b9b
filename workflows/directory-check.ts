// Readiness of a file server's directory settings (POST /file-servers/{name}/directory/check waits for it): one
// activity, so the LDAP calls run on a worker, never in the API, and the answer is recorded like every operation.
import { proxyActivities } from '@temporalio/workflow';
import type { DirectoryActivities } from '../activities/directory';
import type { DirectoryCheck } from '../domain/directory';

const { checkDirectory } = proxyActivities<DirectoryActivities>({
  // Each DC gets 5 s to connect and bind and 10 s per operation; several DCs are checked one after the other.
  startToCloseTimeout: '2 minutes',
  // The check answers in words when a DC is unreachable; a retry would only delay that answer.
  retry: { maximumAttempts: 1 },
});

export interface DirectoryCheckInput {
  fileServer: string;
}

export async function checkDirectoryWorkflow(input: DirectoryCheckInput): Promise<DirectoryCheck> {
  return checkDirectory({ fileServer: input.fileServer });
}
