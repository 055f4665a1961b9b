// Client access through Samba: the agent owns one smb.conf include file with a section per share and makes smbd
// re-read it after every change, so SMB clients see an access-mode change at their next tree connect.
//   read_write -> read only = no,  available = yes
//   read_only  -> read only = yes, available = yes
//   off        -> available = no (tree connects are refused)
// The operator's smb.conf keeps [global] (authentication, interfaces) and has `include = <this file>`.
import fs from 'node:fs/promises';
import type { AccessMode, OpenFile } from '../domain/gateway-contract';
import { readSmbStatus, shareOpenFiles } from './smb-status';
import { run, writeFileAtomic } from './util';

export interface SambaShare {
  name: string;
  path: string;
  accessMode: AccessMode;
}

export function renderSambaShares(shares: SambaShare[]): string {
  const lines = ['# Written by the fs-dr gateway agent: do not edit, changes are overwritten.', ''];
  for (const s of [...shares].sort((a, b) => a.name.localeCompare(b.name))) {
    lines.push(
      `[${s.name}]`,
      `  path = ${s.path}`,
      `  read only = ${s.accessMode === 'read_write' ? 'no' : 'yes'}`,
      `  available = ${s.accessMode === 'off' ? 'no' : 'yes'}`,
      '',
    );
  }
  return lines.join('\n');
}

export class SambaConfigurator {
  constructor(private readonly opts: { includeFile: string; pidFile?: string; smbdConf?: string }) {}

  /** The clients with files open on a share that smbd serves from `sharePath` (see smb-status.ts). */
  async openFiles(share: string, sharePath: string): Promise<{ openFiles: OpenFile[]; sessions: number }> {
    const status = await readSmbStatus(this.opts);
    const real = await fs.realpath(sharePath).catch(() => sharePath);
    return shareOpenFiles(status, { name: share, paths: [sharePath, real] });
  }

  async apply(shares: SambaShare[]): Promise<void> {
    await writeFileAtomic(this.opts.includeFile, renderSambaShares(shares));
    await fs.chmod(this.opts.includeFile, 0o644);
    await this.reload();
  }

  private async reload(): Promise<void> {
    if (this.opts.pidFile) {
      const pid = Number((await fs.readFile(this.opts.pidFile, 'utf8')).trim());
      if (!Number.isInteger(pid) || pid <= 1) throw new Error(`smbd pid file ${this.opts.pidFile} holds no pid`);
      process.kill(pid, 'SIGHUP');
      return;
    }
    await run(['smbcontrol', 'smbd', 'reload-config']);
  }
}
