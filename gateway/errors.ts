// Errors of the agent that the domain errors do not cover; gateway/app.ts maps each to its HTTP status once.
export class UnauthenticatedError extends Error {
  constructor(message = 'missing or wrong bearer token') {
    super(message);
    this.name = 'UnauthenticatedError';
  }
}

/** A request body in another media type (or encoding) than the route reads: 415, rather than read as nothing. */
export class UnsupportedMediaType extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedMediaType';
  }
}

/** The disk filled up (ENOSPC/EDQUOT): the operation failed cleanly and freed what it had written. */
export class InsufficientStorageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InsufficientStorageError';
  }
}

export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  // btrfs receive reports it in its stderr
  return err instanceof Error && /No space left on device|Disk quota exceeded/i.test(err.message);
}
