import { ConflictError, GatewayUnavailable, NotFoundError, ValidationError } from '../domain/errors';
import { toProblem } from './problem';
import { TemporalUnavailable } from './temporal';

describe('toProblem', () => {
  it('maps the domain errors once, with field errors for validation', () => {
    expect(toProblem(new ValidationError('bad', [{ path: 'body.name', message: 'x' }]))).toEqual({
      type: 'urn:fs-dr:problem:validation',
      title: 'Invalid request',
      status: 400,
      detail: 'bad',
      errors: [{ path: 'body.name', message: 'x' }],
    });
    expect(toProblem(new NotFoundError('nf')).status).toBe(404);
    expect(toProblem(new ConflictError("share 'eng' is taken")).detail).toBe("share 'eng' is taken");
    expect(toProblem(new GatewayUnavailable('gw down')).status).toBe(502);
    expect(toProblem(new TemporalUnavailable('x')).status).toBe(503);
  });

  it('maps HTTP-layer errors to 4xx and hides anything unexpected behind a generic 500', () => {
    expect(toProblem(Object.assign(new Error('x'), { status: 413, type: 'entity.too.large' })).status).toBe(413);
    expect(toProblem(Object.assign(new Error('x'), { status: 400, type: 'entity.parse.failed' })).detail).toBe(
      'the body is not valid JSON',
    );
    const p = toProblem(new Error('SELECT * FROM "ApiToken" failed at /work/main/api/x.ts:1:1'));
    expect(p).toEqual({
      type: 'urn:fs-dr:problem:internal',
      title: 'Internal error',
      status: 500,
      detail: 'an unexpected error occurred; the server log has the details',
    });
  });

  it('maps a raced unique constraint to 409', () => {
    expect(toProblem({ code: 'P2002', clientVersion: '6', message: 'Unique constraint failed' }).status).toBe(409);
  });
});
