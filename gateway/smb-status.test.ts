// Reading smbstatus: the output of Samba 4.17's `smbstatus --json` (as captured from a real smbd, with a second
// client added) read into one share's open files; the smb.conf found on smbd's command line. The real smbd with a
// real client holding a file open is in test/gateway/open-files.test.ts.
import { addressOf, configFileOf, shareOpenFiles, type SmbStatusJson } from './smb-status';

const server = (pid: string) => ({ pid, task_id: '0', vnn: '4294967295', unique_id: `u${pid}` });

const status = {
  timestamp: '2026-12-06T03:11:56.470198+0000',
  version: '4.17.12-Debian',
  smb_conf: '/etc/samba/smb.conf',
  sessions: {
    '1118108835': {
      session_id: '1118108835',
      server_id: server('21184'),
      uid: 65534,
      gid: 65534,
      username: 'nobody',
      groupname: 'nogroup',
      remote_machine: '127.0.0.1',
      hostname: 'ipv4:127.0.0.1:40424',
      session_dialect: 'SMB3_11',
    },
    '77': {
      session_id: '77',
      server_id: server('30000'),
      username: 'EXAMPLE\\alice',
      remote_machine: 'LAPTOP-7',
      hostname: 'ipv6:[fd00::5]:51234',
    },
  },
  tcons: {
    '1980747281': { service: 'docs', server_id: server('21184'), tcon_id: '1980747281', session_id: '1118108835' },
    '5': { service: 'DOCS', server_id: server('30000'), tcon_id: '5', session_id: '77' },
    '6': { service: 'other', server_id: server('30000'), tcon_id: '6', session_id: '77' },
  },
  open_files: {
    '/srv/fsdr/shares/docs/big.bin': {
      service_path: '/srv/fsdr/shares/docs',
      filename: 'big.bin',
      fileid: { devid: 65024, inode: 10046758, extid: 0 },
      num_pending_deletes: 0,
      opens: {
        '21184/5': {
          server_id: server('21184'),
          uid: 65534,
          share_file_id: '5',
          opened_at: '2026-12-06T03:11:54.529794+00:00',
        },
        '30000/9': {
          server_id: server('30000'),
          uid: 1001,
          share_file_id: '9',
          opened_at: '2026-12-06T03:12:00+00:00',
        },
      },
    },
    '/srv/fsdr/shares/docs': {
      service_path: '/srv/fsdr/shares/docs/',
      filename: '.',
      opens: { '30000/10': { server_id: server('30000'), uid: 1001 } },
    },
    '/srv/fsdr/shares/other/x': {
      service_path: '/srv/fsdr/shares/other',
      filename: 'x',
      opens: { '30000/11': { server_id: server('30000'), uid: 1001 } },
    },
    '/srv/fsdr/shares/docs/orphan': {
      service_path: '/srv/fsdr/shares/docs',
      filename: 'sub/orphan',
      opens: { '999/1': { server_id: server('999'), uid: 1002, opened_at: 'not a time' } },
    },
  },
} as SmbStatusJson;

describe('smbstatus', () => {
  it("lists one share's open files with the client, user and time of each open, and counts its sessions", () => {
    const r = shareOpenFiles(status, { name: 'docs', paths: ['/srv/fsdr/shares/docs'] });
    expect(r.sessions).toBe(2);
    expect(r.openFiles).toEqual([
      { path: '', client: 'fd00::5', machine: 'LAPTOP-7', user: 'EXAMPLE\\alice', since: null },
      {
        path: 'big.bin',
        client: '127.0.0.1',
        machine: '127.0.0.1',
        user: 'nobody',
        since: '2026-12-06T03:11:54.529Z',
      },
      {
        path: 'big.bin',
        client: 'fd00::5',
        machine: 'LAPTOP-7',
        user: 'EXAMPLE\\alice',
        since: '2026-12-06T03:12:00.000Z',
      },
      { path: 'sub/orphan', client: 'unknown', machine: null, user: 'uid:1002', since: null },
    ]);
    expect(shareOpenFiles(status, { name: 'other', paths: ['/srv/fsdr/shares/other'] })).toEqual({
      sessions: 1,
      openFiles: [{ path: 'x', client: 'fd00::5', machine: 'LAPTOP-7', user: 'EXAMPLE\\alice', since: null }],
    });
    expect(shareOpenFiles({}, { name: 'docs', paths: ['/srv/fsdr/shares/docs'] })).toEqual({
      sessions: 0,
      openFiles: [],
    });
  });

  it("finds the smb.conf on smbd's command line", () => {
    expect(configFileOf(['smbd', '--foreground', '-s', '/etc/x.conf'], '/')).toBe('/etc/x.conf');
    expect(configFileOf(['smbd', '-s/etc/y.conf'], '/')).toBe('/etc/y.conf');
    expect(configFileOf(['smbd', '--configfile=rel.conf'], '/run/s')).toBe('/run/s/rel.conf');
    expect(configFileOf(['smbd', '--configfile', '/etc/z.conf', '-d', '1'], '/')).toBe('/etc/z.conf');
    expect(configFileOf(['/usr/sbin/smbd', '--foreground', '--no-process-group'], '/')).toBeUndefined();
  });

  it("reads the address of a client from smbd's socket address", () => {
    expect(addressOf('ipv4:10.0.0.5:51234')).toBe('10.0.0.5');
    expect(addressOf('ipv6:[fd00::5]:445')).toBe('fd00::5');
    expect(addressOf('ipv6:fd00::5:445')).toBe('fd00::5');
    expect(addressOf('LAPTOP')).toBeUndefined();
  });
});
