// The shapes of the API's answers the CLI reads, inferred from the same zod schemas the API validates and documents
// with (OpenAPI): type-only imports, so the CLI carries none of the server's code and cannot drift from it.
import type { z } from 'zod';
import type { AlertView } from '../api/routes/alerts';
import type { FileServerDetails, FileServerOverview, ShareDetails, ShareList } from '../api/routes/file-servers';
import type { JobDetails, JobPage, JobSummary } from '../api/routes/jobs';
import type { OperationStatus, OperationView, Plan } from '../api/routes/operations';
import type { Accepted, PolicyDetails, PolicySummary } from '../api/routes/policies';
import type { TokenView } from '../api/routes/tokens';
import type { OperationRef } from '../api/views';

export type FileServerOverview = z.infer<typeof FileServerOverview>;
export type FileServerDetails = z.infer<typeof FileServerDetails>;
export type ShareList = z.infer<typeof ShareList>;
export type ShareDetails = z.infer<typeof ShareDetails>;
export type PolicySummary = z.infer<typeof PolicySummary>;
export type PolicyDetails = z.infer<typeof PolicyDetails>;
export type PolicyAccepted = z.infer<typeof Accepted>;
export type JobSummary = z.infer<typeof JobSummary>;
export type JobDetails = z.infer<typeof JobDetails>;
export type JobPage = z.infer<typeof JobPage>;
export type Alert = z.infer<typeof AlertView>;
export type OperationPlan = z.infer<typeof Plan>;
export type Operation = z.infer<typeof OperationView>;
export type OperationStatus = z.infer<typeof OperationStatus>;
export type OperationAccepted = z.infer<typeof OperationRef>;
export type Token = z.infer<typeof TokenView>;
export type Page<T> = { items: T[]; nextCursor: string | null };
