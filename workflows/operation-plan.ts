// The dry run of an operation (?dryRun=true): what readiness would find and what the redirect would change, read
// from the gateways and the directory through the same activities the operation uses. Changes nothing; has no
// operation row.
import type { PlanInput, PlanOutput } from '../domain/operations';
import { reasonOf, redirectRequest, unreliable } from './operation-kit';
import { readinessChecks } from './readiness';

export async function operationPlanWorkflow(input: PlanInput): Promise<PlanOutput> {
  const [readiness, redirect] = await Promise.all([
    readinessChecks(input),
    input.redirect
      ? unreliable
          .planRedirect(redirectRequest(input.redirect))
          .catch((err: unknown) => ({ configured: true, summary: `the directory could not be read: ${reasonOf(err)}` }))
      : Promise.resolve(null),
  ]);
  return { readiness, redirect };
}
