import { FailureLimiter, hashToken, newToken, requireRole, roleAllows, TokenCache } from './auth';
import { ForbiddenError, UnauthenticatedError } from '../domain/errors';

describe('auth units', () => {
  it('orders roles viewer < operator < admin', () => {
    expect(roleAllows('admin', 'operator')).toBe(true);
    expect(roleAllows('operator', 'operator')).toBe(true);
    expect(roleAllows('viewer', 'operator')).toBe(false);
    expect(() => requireRole(undefined, 'viewer')).toThrow(UnauthenticatedError);
    expect(() => requireRole({ tokenId: 'x', name: 'bob', role: 'viewer' }, 'admin')).toThrow(
      new ForbiddenError("token 'bob' has role 'viewer'; this call needs 'admin'"),
    );
  });

  it('makes distinct tokens and stable hashes', () => {
    const a = newToken();
    expect(a).toMatch(/^fsdr_[A-Za-z0-9_-]{43}$/);
    expect(newToken()).not.toBe(a);
    expect(hashToken(a)).toBe(hashToken(a));
    expect(hashToken(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('blocks a key after maxFailures in the window and frees it after', () => {
    let now = 0;
    const l = new FailureLimiter({ maxFailures: 2, windowMs: 10_000 }, 3, () => now);
    l.fail('a');
    expect(l.blockedFor('a')).toBe(0);
    l.fail('a');
    expect(l.blockedFor('a')).toBe(10);
    now = 9_500;
    expect(l.blockedFor('a')).toBe(1);
    now = 10_000;
    expect(l.blockedFor('a')).toBe(0);
    // bounded memory: the oldest key goes first
    for (const k of ['b', 'c', 'd', 'e']) l.fail(k);
    expect(l.blockedFor('b')).toBe(0);
  });

  it('caches a principal and forgets it on revocation', () => {
    const c = new TokenCache();
    c.set('h', { tokenId: 't1', name: 'n', role: 'admin' });
    expect(c.get('h')?.name).toBe('n');
    c.forget('t1');
    expect(c.get('h')).toBeUndefined();
  });
});
