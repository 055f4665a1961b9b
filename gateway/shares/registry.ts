// The shares this FSVM holds (name, kind, access mode, portions), kept in <root>/state/shares.json and written
// atomically. Creating the live data is the driver's job; applying access modes is Samba's (gateway/samba.ts).
import path from 'node:path';
import type { AccessMode } from '../../domain/gateway-contract';
import { readJson, writeFileAtomic } from '../util';

export interface ShareRecord {
  name: string;
  kind: 'standard' | 'distributed';
  accessMode: AccessMode;
  /** [''] for a standard share; the portion names held here for a distributed share */
  portions: string[];
  createdAt: string;
}

interface RegistryFile {
  version: 1;
  shares: Record<string, ShareRecord>;
}

export class ShareRegistry {
  private data: RegistryFile = { version: 1, shares: {} };
  private readonly file: string;

  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'shares.json');
  }

  async load(): Promise<void> {
    this.data = (await readJson<RegistryFile>(this.file)) ?? { version: 1, shares: {} };
  }

  get(name: string): ShareRecord | undefined {
    return Object.hasOwn(this.data.shares, name) ? this.data.shares[name] : undefined;
  }

  list(): ShareRecord[] {
    return Object.values(this.data.shares).sort((a, b) => a.name.localeCompare(b.name));
  }

  async put(rec: ShareRecord): Promise<void> {
    const next: RegistryFile = { ...this.data, shares: { ...this.data.shares, [rec.name]: rec } };
    await writeFileAtomic(this.file, JSON.stringify(next, null, 2));
    this.data = next;
  }

  async remove(name: string): Promise<void> {
    const shares = { ...this.data.shares };
    delete shares[name];
    const next: RegistryFile = { ...this.data, shares };
    await writeFileAtomic(this.file, JSON.stringify(next, null, 2));
    this.data = next;
  }
}
