// The closed set of domain errors. Each has a stable code; api/problem.ts maps them to HTTP problems once, and
// activities map them to Temporal ApplicationFailure types (non-retryable where a retry cannot help).
export type DomainErrorCode =
  'VALIDATION' | 'NOT_FOUND' | 'CONFLICT' | 'UNAUTHENTICATED' | 'FORBIDDEN' | 'GATEWAY_UNAVAILABLE' | 'DIRECTORY_ERROR';

export interface FieldError {
  path: string;
  message: string;
}

export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;
  /** Whether retrying the same call later can succeed. */
  abstract readonly retryable: boolean;
}

export class ValidationError extends DomainError {
  readonly code = 'VALIDATION';
  readonly retryable = false;
  constructor(
    message: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

export class GatewayUnavailable extends DomainError {
  readonly code = 'GATEWAY_UNAVAILABLE';
  readonly retryable = true;
  constructor(message: string) {
    super(message);
    this.name = 'GatewayUnavailable';
  }
}

export class DirectoryError extends DomainError {
  readonly code = 'DIRECTORY_ERROR';
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'DirectoryError';
  }
}

/** No credentials, or credentials that are not (or no longer) valid: HTTP 401. */
export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'UnauthenticatedError';
  }
}

/** Valid credentials whose role does not allow the call: HTTP 403. */
export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenError';
  }
}
