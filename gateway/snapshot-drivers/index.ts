// Picks the snapshot driver an FSVM is configured with.
import type { GatewayConfig } from '../config';
import type { Layout } from '../layout';
import { BtrfsDriver } from './btrfs';
import type { SnapshotDriver } from './driver';
import { PortableDriver } from './portable';
import { ZfsDriver } from './zfs';

export function createDriver(config: GatewayConfig, layout: Layout): SnapshotDriver {
  switch (config.driver) {
    case 'btrfs':
      return new BtrfsDriver(layout);
    case 'zfs':
      return new ZfsDriver(layout, config.zfsDataset ?? '');
    case 'portable':
      return new PortableDriver(layout);
  }
}
