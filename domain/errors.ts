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

/**
 * Why a directory (Active Directory over LDAP) call failed, and whether a retry can help. The reason is stable: the
 * workflows branch on it (activities/failures.ts makes it the ApplicationFailure type `DIRECTORY_<REASON>`).
 */
export const DIRECTORY_FAILURES = {
  /** No domain controller answered (connection refused, reset, host unreachable, DC busy or unavailable). */
  unreachable: { retryable: true },
  /** A domain controller accepted the connection but did not answer in time. */
  timeout: { retryable: true },
  /** Another writer changed the object between our read and our write; a retry reads it again. */
  concurrent_change: { retryable: true },
  /** The DC refused the bind identity or password. */
  invalid_credentials: { retryable: false },
  /** Bound, but the identity may not read or write the object named in the message. */
  insufficient_rights: { retryable: false },
  /** The DC's TLS certificate does not verify against the configured CA, or does not name the DC. */
  tls_verification_failed: { retryable: false },
  /** The DC refuses a simple bind without TLS (plain ldap:// against a DC that requires it). */
  tls_required: { retryable: false },
  /** The configured DNS zone is not an AD-integrated zone of this domain. */
  zone_not_found: { retryable: false },
  /** A computer account (sAMAccountName) does not exist in the domain. */
  account_not_found: { retryable: false },
  /** An SPN is held by an account outside the pair: moving it would make a duplicate, which breaks Kerberos. */
  duplicate_spn: { retryable: false },
  /** A file server has no directory settings (or not the ones this call needs). */
  not_configured: { retryable: false },
  /** A name, SPN or setting is not acceptable (refused before anything is sent to the directory). */
  invalid_input: { retryable: false },
  /** Any other refusal of the directory (an LDAP result code with no better reason), named in the message. */
  refused: { retryable: false },
} as const satisfies Record<string, { retryable: boolean }>;

export type DirectoryFailureReason = keyof typeof DIRECTORY_FAILURES;

export class DirectoryError extends DomainError {
  readonly code = 'DIRECTORY_ERROR';
  readonly retryable: boolean;
  constructor(
    readonly reason: DirectoryFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'DirectoryError';
    this.retryable = DIRECTORY_FAILURES[reason].retryable;
  }

  /** The Temporal ApplicationFailure type of this error, e.g. DIRECTORY_INVALID_CREDENTIALS. */
  get failureType(): string {
    return `DIRECTORY_${this.reason.toUpperCase()}`;
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
