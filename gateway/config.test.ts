import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GatewayConfigError, loadGatewayConfig } from './config';

const base = {
  GATEWAY_FILE_SERVER_ID: 'fs1',
  GATEWAY_NODE_ID: 'fsvm-1',
  GATEWAY_DATA_ROOT: '/srv/fsdr',
  GATEWAY_TOKEN: 'a-long-enough-token-123',
};

describe('gateway config', () => {
  it('reads a complete environment with defaults', () => {
    const c = loadGatewayConfig({
      ...base,
      GATEWAY_PEER_TOKENS: 'fsvm-2=pair-secret-0123456789, fsvm-3=another-secret-0123',
    });
    expect(c).toMatchObject({
      fileServerId: 'fs1',
      nodeId: 'fsvm-1',
      listen: { host: '127.0.0.1', port: 7500 },
      dataRoot: '/srv/fsdr',
      driver: 'portable',
      bandwidthLimit: 0,
      maxStreams: 4,
      receiveSpool: 'auto',
    });
    expect(loadGatewayConfig({ ...base, GATEWAY_RECEIVE_SPOOL: 'off' }).receiveSpool).toBe('off');
    expect([...c.peerTokens.keys()]).toEqual(['fsvm-2', 'fsvm-3']);
    expect(loadGatewayConfig({ ...base, GATEWAY_BANDWIDTH_LIMIT: '50M', GATEWAY_LISTEN: '[::1]:7600' })).toMatchObject({
      bandwidthLimit: 50 * 1024 * 1024,
      listen: { host: '::1', port: 7600 },
    });
  });

  it('names every bad variable and never echoes a secret', () => {
    let err: unknown;
    try {
      loadGatewayConfig({
        GATEWAY_NODE_ID: 'bad id',
        GATEWAY_DRIVER: 'ntfs',
        GATEWAY_LISTEN: 'nope',
        GATEWAY_RECEIVE_SPOOL: 'yes',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayConfigError);
    const text = (err as Error).message;
    for (const v of [
      'GATEWAY_FILE_SERVER_ID',
      'GATEWAY_NODE_ID',
      'GATEWAY_DATA_ROOT',
      'GATEWAY_DRIVER',
      'GATEWAY_LISTEN',
      'GATEWAY_RECEIVE_SPOOL',
    ]) {
      expect(text).toContain(v);
    }
    const secret = 'short';
    expect(() => loadGatewayConfig({ ...base, GATEWAY_TOKEN: secret })).toThrow(/GATEWAY_TOKEN: must be at least 16/);
    try {
      loadGatewayConfig({ ...base, GATEWAY_PEER_TOKENS: 'fsvm-2=tiny' });
    } catch (e) {
      expect((e as Error).message).not.toContain('tiny');
    }
    expect(() => loadGatewayConfig({ ...base, GATEWAY_TOKEN: undefined })).toThrow(
      /GATEWAY_TOKEN or GATEWAY_TOKEN_FILE/,
    );
    expect(() => loadGatewayConfig({ ...base, GATEWAY_DRIVER: 'zfs' })).toThrow(/GATEWAY_ZFS_DATASET/);
    expect(() => loadGatewayConfig({ ...base, GATEWAY_SMBD_CONF: '/etc/samba/smb.conf' })).toThrow(
      /GATEWAY_SMBD_CONF: only with GATEWAY_SMB_CONF/,
    );
  });

  it('reads the Samba integration: the include file, how to reload smbd, the smb.conf smbstatus must read', () => {
    expect(loadGatewayConfig({ ...base, GATEWAY_SMB_CONF: '/etc/samba/fsdr.conf' }).smb).toEqual({
      includeFile: '/etc/samba/fsdr.conf',
      pidFile: undefined,
    });
    expect(
      loadGatewayConfig({
        ...base,
        GATEWAY_SMB_CONF: '/etc/samba/fsdr.conf',
        GATEWAY_SMBD_PID_FILE: '/run/samba/smbd.pid',
        GATEWAY_SMBD_CONF: '/etc/samba/smb.conf',
      }).smb,
    ).toEqual({
      includeFile: '/etc/samba/fsdr.conf',
      pidFile: '/run/samba/smbd.pid',
      smbdConf: '/etc/samba/smb.conf',
    });
  });

  it('reads the pinned peers and the pair secrets of a rotation (current first, then previous)', () => {
    const c = loadGatewayConfig({
      ...base,
      GATEWAY_PEER_TOKENS: 'fsvm-2=new-pair-secret-0123456,fsvm-2=old-pair-secret-0123456,fsvm-3=third-secret-0123456',
      GATEWAY_PEERS: 'fsvm-2=https://10.0.0.2:7500/, fsvm-3=http://[::1]:7501',
    });
    expect(c.peerTokens.get('fsvm-2')).toEqual(['new-pair-secret-0123456', 'old-pair-secret-0123456']);
    expect([...c.peerUrls]).toEqual([
      ['fsvm-2', 'https://10.0.0.2:7500'],
      ['fsvm-3', 'http://[::1]:7501'],
    ]);
    const problems = (env: Record<string, string>): string => {
      try {
        loadGatewayConfig({ ...base, ...env });
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(
      problems({
        GATEWAY_PEER_TOKENS: 'fsvm-2=a-secret-0123456789,fsvm-2=b-secret-0123456789,fsvm-2=c-secret-0123456789',
      }),
    ).toMatch(/fsvm-2 is listed more than twice/);
    expect(problems({ GATEWAY_PEERS: 'fsvm-2=http://10.0.0.2:7500' })).toMatch(/fsvm-2 has no pair secret/);
    for (const bad of ['fsvm-2=ftp://x:1', 'fsvm-2=http://x:1/path', 'fsvm-2=http://u:p@x:1', 'nourl'])
      expect(problems({ GATEWAY_PEER_TOKENS: 'fsvm-2=a-secret-0123456789', GATEWAY_PEERS: bad })).toMatch(
        /GATEWAY_PEERS: entry 1/,
      );
  });

  it('reads tokens from files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwcfg-'));
    fs.writeFileSync(path.join(dir, 'token'), 'token-from-a-file-0123\n');
    fs.writeFileSync(path.join(dir, 'peers'), 'fsvm-2=pair-secret-0123456789\n');
    const c = loadGatewayConfig({
      ...base,
      GATEWAY_TOKEN: undefined,
      GATEWAY_TOKEN_FILE: path.join(dir, 'token'),
      GATEWAY_PEER_TOKENS_FILE: path.join(dir, 'peers'),
    });
    expect(c.token).toBe('token-from-a-file-0123');
    expect(c.peerTokens.get('fsvm-2')).toEqual(['pair-secret-0123456789']);
    expect(() =>
      loadGatewayConfig({ ...base, GATEWAY_TOKEN: undefined, GATEWAY_TOKEN_FILE: path.join(dir, 'missing') }),
    ).toThrow(/GATEWAY_TOKEN_FILE: cannot read/);
    fs.rmSync(dir, { recursive: true });
  });
});
