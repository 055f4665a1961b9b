// The checks and escapes every DN and filter value passes through (test/directory/faults.test.ts sends
// injection-shaped names to the real DC).
import { checkAccountName, checkDnsName, checkSpn, escapeDnValue } from './ldap-values';

describe('LDAP values', () => {
  it('escapes DN values (RFC 4514)', () => {
    expect(escapeDnValue('a,b+c="d"\\<e>;f')).toBe('a\\,b\\+c\\=\\"d\\"\\\\\\<e\\>\\;f');
    expect(escapeDnValue(' #lead trail ')).toBe('\\ #lead trail\\ ');
    expect(escapeDnValue('#x')).toBe('\\#x');
    expect(escapeDnValue('nul\u0000\n')).toBe('nul\\00\\0a');
    expect(escapeDnValue('fs1')).toBe('fs1');
  });

  it('refuses what cannot be a DNS name, an SPN or a computer account, quoting it as JSON', () => {
    for (const bad of ['*)(cn=*', 'a\\2a', 'x\u0000y', '(fs1)', '*', 'a b', 'a,b', 'a=b', '-a.b']) {
      expect(() => checkDnsName(bad)).toThrow(/refused/);
      expect(() => checkSpn(`cifs/${bad}`)).toThrow(/refused/);
      expect(() => checkAccountName(`${bad}$`)).toThrow(/refused/);
    }
    for (const bad of ['a..b', `${'a'.repeat(64)}.b`, 'a.-b']) expect(() => checkDnsName(bad)).toThrow(/refused/);
    expect(() => checkDnsName('x\u0000y')).toThrow('DNS name "x\\u0000y" refused');
    expect(checkDnsName('FS1.Corp.Example.Test')).toBe('fs1.corp.example.test');
    expect(checkSpn('cifs/fs1.corp.example.test:445/svc')).toBe('cifs/fs1.corp.example.test:445/svc');
    expect(checkAccountName('FS1$')).toBe('FS1$');
    expect(() => checkAccountName('FS1')).toThrow(/like FS1\$/);
  });
});
