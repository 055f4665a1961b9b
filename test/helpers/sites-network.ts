// Two sites on a network of the test's own making, so that a test can cut the link between them. Each site is a
// network namespace (its FSVM agents run inside it, on the site's own address); both namespaces hang off one bridge
// in the host namespace, which also carries the orchestrator's traffic to them. `partition()` isolates the two
// sites' bridge ports from each other: packets between the sites are dropped, with no reset and no error, which is
// what a cut WAN link does, while the orchestrator (in the host namespace) still reaches both sites. `heal()` joins
// them again. Only addresses of a private /24 the helper checked is unused are ever configured, on interfaces it
// created; everything goes at close(), and a later run removes what a killed run left (the bridge's alias names the
// process that made it). Root only (iproute2).
import { execFileSync } from 'node:child_process';

export type Site = 'a' | 'b';

export interface SitesNetwork {
  /** The namespace each site's agents run in (`ip netns exec <ns> ...`). */
  namespaces: Record<Site, string>;
  /** The address each site's agents listen on (and the orchestrator reaches them at). */
  hosts: Record<Site, string>;
  partitioned: boolean;
  /** Cuts the link between the two sites (both still reach, and are reached by, the host namespace). */
  partition(): void;
  heal(): void;
  close(): void;
}

const PREFIX = 'fsdrp';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes the bridges and namespaces of runs whose process is gone (a test killed before its close()). */
function removeLeftovers(): void {
  const links = JSON.parse(ip('-j', '-d', 'link', 'show', 'type', 'bridge')) as { ifname: string; ifalias?: string }[];
  for (const l of links) {
    const m = /^fsdrp(\d+)$/.exec(l.ifname);
    const owner = Number(/^pid=(\d+)$/.exec(l.ifalias ?? '')?.[1] ?? 0);
    if (!m || (owner && alive(owner))) continue;
    remove(Number(m[1]));
  }
}

function names(n: number) {
  return {
    bridge: `${PREFIX}${n}`,
    ns: { a: `${PREFIX}-${n}-a`, b: `${PREFIX}-${n}-b` } as Record<Site, string>,
    host: { a: `${PREFIX}${n}a`, b: `${PREFIX}${n}b` } as Record<Site, string>,
    peer: { a: `${PREFIX}${n}a1`, b: `${PREFIX}${n}b1` } as Record<Site, string>,
  };
}

function remove(n: number): void {
  const x = names(n);
  for (const site of ['a', 'b'] as const) {
    try {
      ip('netns', 'del', x.ns[site]); // its end of the veth pair goes with it, and the host's end with that
    } catch {
      /* not there */
    }
  }
  try {
    ip('link', 'del', x.bridge);
  } catch {
    /* not there */
  }
}

/** A /24 of 10.213.0.0/16 that no interface of the host uses, and free names for it. */
function freeSubnet(): number {
  const used = ip('-o', '-4', 'addr', 'show');
  const namespaces = ip('netns', 'list');
  for (let i = 0; i < 250; i++) {
    const n = ((process.pid + i) % 250) + 1;
    if (used.includes(`10.213.${n}.`) || namespaces.includes(`${PREFIX}-${n}-`) || used.includes(names(n).bridge))
      continue;
    return n;
  }
  throw new Error('no free 10.213.x.0/24 for a sites network');
}

export function createSitesNetwork(): SitesNetwork {
  removeLeftovers();
  const n = freeSubnet();
  const x = names(n);
  const hosts: Record<Site, string> = { a: `10.213.${n}.2`, b: `10.213.${n}.3` };
  try {
    ip('link', 'add', x.bridge, 'type', 'bridge');
    ip('link', 'set', x.bridge, 'alias', `pid=${process.pid}`);
    ip('addr', 'add', `10.213.${n}.1/24`, 'dev', x.bridge);
    ip('link', 'set', x.bridge, 'up');
    for (const site of ['a', 'b'] as const) {
      ip('netns', 'add', x.ns[site]);
      ip('link', 'add', x.host[site], 'type', 'veth', 'peer', 'name', x.peer[site]);
      ip('link', 'set', x.peer[site], 'netns', x.ns[site]);
      ip('link', 'set', x.host[site], 'master', x.bridge);
      ip('link', 'set', x.host[site], 'up');
      ip('-n', x.ns[site], 'addr', 'add', `${hosts[site]}/24`, 'dev', x.peer[site]);
      ip('-n', x.ns[site], 'link', 'set', x.peer[site], 'up');
      ip('-n', x.ns[site], 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    remove(n);
    throw err;
  }
  const isolate = (on: boolean): void => {
    for (const site of ['a', 'b'] as const)
      execFileSync('bridge', ['link', 'set', 'dev', x.host[site], 'isolated', on ? 'on' : 'off']);
  };
  const net: SitesNetwork = {
    namespaces: x.ns,
    hosts,
    partitioned: false,
    partition() {
      isolate(true);
      net.partitioned = true;
    },
    heal() {
      isolate(false);
      net.partitioned = false;
    },
    close() {
      remove(n);
    },
  };
  return net;
}
