// The FSVM gateway's REST contract (version 1): zod schemas shared by the gateway agent (gateway/), its typed client
// (gateway/client.ts, used by activities and the API) and the gateway's OpenAPI document. Pure: importable anywhere.
import { z } from 'zod';

export const GATEWAY_API_PREFIX = '/v1';

/**
 * Windows device names (with or without an extension: `NUL.txt` is the device too) and names ending with a dot: a
 * Windows SMB client cannot open a share or folder so named (it strips the dot, or opens the device), so neither can be
 * created for clients to use.
 */
const WINDOWS_RESERVED = /^(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?$/i;

/** Share and portion names: what SMB/NFS accept as share names, minus anything a path or shell could misread. */
export const ShareName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/, 'letters, digits, _ . - (max 80), starting with a letter or digit')
  .refine((s) => !s.includes('..'), 'must not contain ..')
  .refine((s) => !s.endsWith('.'), 'must not end with a dot (Windows clients cannot open it)')
  .refine((s) => !WINDOWS_RESERVED.test(s), 'must not be a Windows device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9)');
export const PortionName = ShareName;
export const SnapshotId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'letters, digits, _ . : - (max 128)')
  .refine((s) => !s.includes('..'), 'must not contain ..');
export const NodeId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);

export const SnapshotDriverName = z.enum(['btrfs', 'portable', 'zfs']);
export const AccessMode = z.enum(['read_write', 'read_only', 'off']);
export type AccessMode = z.infer<typeof AccessMode>;
export const ShareKind = z.enum(['standard', 'distributed']);

/** GET /v1/health */
export const GatewayHealth = z.object({
  status: z.enum(['ok', 'degraded']),
  fileServerId: z.string(),
  nodeId: NodeId,
  version: z.string(),
  driver: SnapshotDriverName,
  capacity: z.object({ totalBytes: z.number().int().nonnegative(), freeBytes: z.number().int().nonnegative() }),
  /** 1-minute load average of the node. */
  load: z.number().nonnegative(),
  activeTransfers: z.number().int().nonnegative(),
});
export type GatewayHealth = z.infer<typeof GatewayHealth>;

/** The portions of a share this FSVM holds. A standard share has exactly one portion, named "" (the share root). */
export const SharePortion = z.object({
  name: z.union([PortionName, z.literal('')]),
  sizeBytes: z.number().int().nonnegative(),
});

export const GatewayShare = z.object({
  name: ShareName,
  kind: ShareKind,
  accessMode: AccessMode,
  portions: z.array(SharePortion),
});
export type GatewayShare = z.infer<typeof GatewayShare>;

/**
 * GET /v1/shares/:share: one share without sizes. A size is a walk of the portion's tree, too dear for the questions
 * the orchestrator asks on every run (is the share here, which portions); GET /v1/shares has them.
 */
export const GatewayShareInfo = GatewayShare.extend({
  portions: z.array(SharePortion.pick({ name: true })),
});
export type GatewayShareInfo = z.infer<typeof GatewayShareInfo>;

/** GET /v1/shares */
export const ShareList = z.object({ shares: z.array(GatewayShare) });

/** PUT /v1/shares/:share (idempotent create). For a distributed share, `portions` names the portions this FSVM holds. */
export const CreateShareRequest = z
  .object({
    kind: ShareKind.default('standard'),
    portions: z.array(PortionName).max(1000).optional(),
    accessMode: AccessMode.default('read_write'),
  })
  .strict();

/** PUT /v1/shares/:share/access */
export const SetAccessRequest = z.object({ mode: AccessMode }).strict();

/** One problem format for every gateway error (RFC 9457 style). */
export const GatewayProblem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type GatewayProblem = z.infer<typeof GatewayProblem>;

// ---------------------------------------------------------------------------------------------------------------
// Contract v1, continued: share deletion, snapshots, negotiation, transfers (sending side), receives (receiving side).
// ---------------------------------------------------------------------------------------------------------------

/** Transfer ids are chosen by the orchestrator (e.g. workflow id + portion), so a retried activity finds its transfer. */
export const TransferId = SnapshotId;
/** The portion of a share an operation is about; "" (the default) is the root portion of a standard share. */
export const PortionRef = z.union([PortionName, z.literal('')]).default('');
export const IsoTime = z.iso.datetime({ offset: true });

/** DELETE /v1/shares/:share?confirm=<share>: deletes the share, its data and its snapshots on this FSVM. */
export const DeleteShareQuery = z.object({ confirm: z.string() }).strict();

/** POST /v1/shares/:share/snapshots: one snapshot per portion this FSVM holds, all with the set's id. Idempotent. */
export const CreateSnapshotRequest = z
  .object({
    snapshotId: SnapshotId,
    /** When `POST /v1/snapshots/prune` may delete it; absent: kept until deleted. */
    expiresAt: IsoTime.optional(),
  })
  .strict();

export const GatewaySnapshot = z.object({
  id: SnapshotId,
  share: ShareName,
  portion: z.union([PortionName, z.literal('')]),
  /** When the snapshot was taken on the FSVM that first took it (kept by replication). */
  createdAt: IsoTime,
  expiresAt: IsoTime.nullable(),
  /** 'local': taken here; 'received': replicated from a peer. */
  origin: z.enum(['local', 'received']),
  /**
   * Logical size of the portion in the snapshot (sum of regular file sizes); null while the agent is still measuring
   * it (btrfs: a walk of the snapshot's tree, done in the background once the snapshot is taken or received).
   */
  sizeBytes: z.number().int().nonnegative().nullable(),
});
export type GatewaySnapshot = z.infer<typeof GatewaySnapshot>;

/** GET /v1/shares/:share/snapshots[?portion=] : complete snapshots only, oldest first. */
export const SnapshotList = z.object({ snapshots: z.array(GatewaySnapshot) });

/** POST /v1/shares/:share/rollback: every portion held here (or only `portion`) goes back to the snapshot. */
export const RollbackRequest = z.object({ snapshotId: SnapshotId, portion: PortionName.optional() }).strict();

/** POST /v1/snapshots/prune: deletes every snapshot whose expiry is before `now` (default: the agent's clock). */
export const PruneRequest = z.object({ now: IsoTime.optional() }).strict();
export const PruneResult = z.object({
  deleted: z.array(z.object({ share: ShareName, portion: z.string(), id: SnapshotId })),
});

/** GET /v1/negotiation/:share?portion= : what this side has, to find the newest common snapshot. */
export const NegotiationInfo = z.object({
  share: ShareName,
  portion: z.string(),
  driver: SnapshotDriverName,
  nodeId: NodeId,
  /** Complete snapshots, oldest first. */
  snapshots: z.array(z.object({ id: SnapshotId, createdAt: IsoTime })),
  /** Receives under way into this portion (not usable as a base). */
  receiving: z.array(SnapshotId),
});
export type NegotiationInfo = z.infer<typeof NegotiationInfo>;

export const TransferState = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
export type TransferState = z.infer<typeof TransferState>;

/** POST /v1/transfers: send snapshot `snapshotId` (incremental from `baseSnapshotId`) to a peer FSVM. Idempotent by id. */
export const StartTransferRequest = z
  .object({
    transferId: TransferId,
    share: ShareName,
    portion: PortionRef,
    snapshotId: SnapshotId,
    baseSnapshotId: SnapshotId.optional(),
    target: z
      .object({
        /**
         * The destination FSVM: one of the sending agent's pinned peers (GATEWAY_PEERS), whose address and pair secret
         * the agent takes from its own configuration.
         */
        nodeId: NodeId,
        /**
         * Optional, for agents' older callers: if given, it must be the address the sending agent has configured for
         * `nodeId`; any other address is refused (400, field target.url) and nothing is sent.
         */
        url: z.url({ protocol: /^https?$/ }).optional(),
        share: ShareName,
        portion: PortionRef,
      })
      .strict(),
    /** Bytes per second; absent: the agent's default (GATEWAY_BANDWIDTH_LIMIT), 0 = unlimited. */
    bandwidthLimit: z.number().int().nonnegative().optional(),
  })
  .strict();
export type StartTransferRequest = z.infer<typeof StartTransferRequest>;

export const TransferStatus = z.object({
  transferId: TransferId,
  share: ShareName,
  portion: z.string(),
  snapshotId: SnapshotId,
  baseSnapshotId: SnapshotId.nullable(),
  /** url: the pinned address of the peer the transfer went to (the sending agent's configuration). */
  target: z.object({ url: z.string(), nodeId: NodeId, share: ShareName, portion: z.string() }),
  state: TransferState,
  /** Length of the stream; null while unknown (btrfs streams are measured while sent). */
  bytesTotal: z.number().int().nonnegative().nullable(),
  /** Bytes the receiver has acknowledged or that are on their way (monotonic within an attempt). */
  bytesSent: z.number().int().nonnegative(),
  /** Bytes per second over the last seconds. */
  rateBytesPerSec: z.number().nonnegative(),
  /** How many times the stream was resumed after a dropped connection or restart, and from which offset last. */
  resumes: z.number().int().nonnegative(),
  resumedFrom: z.number().int().nonnegative().nullable(),
  error: z.string().nullable(),
  startedAt: IsoTime,
  finishedAt: IsoTime.nullable(),
});
export type TransferStatus = z.infer<typeof TransferStatus>;
export const TransferList = z.object({ transfers: z.array(TransferStatus) });

// --- The receiving side. Called by the sending agent (peer token), not by the orchestrator, except commit/list. ---

export const ReceiveState = z.enum(['receiving', 'received', 'committed', 'failed']);
export type ReceiveState = z.infer<typeof ReceiveState>;

/** PUT /v1/receives/:transferId (peer): prepare a receive. Idempotent for the same parameters. */
export const PrepareReceiveRequest = z
  .object({
    share: ShareName,
    portion: PortionRef,
    snapshotId: SnapshotId,
    baseSnapshotId: SnapshotId.optional(),
    /** The driver that produced the stream; must match the receiver's. */
    driver: SnapshotDriverName,
    createdAt: IsoTime,
    expiresAt: IsoTime.nullable().optional(),
    /** The snapshot's size on the sender when known: a receiver whose copy is exact (btrfs) takes it as its own. */
    sizeBytes: z.number().int().nonnegative().nullable().optional(),
  })
  .strict();
export type PrepareReceiveRequest = z.infer<typeof PrepareReceiveRequest>;

export const ReceiveStatus = z.object({
  transferId: TransferId,
  share: ShareName,
  portion: z.string(),
  snapshotId: SnapshotId,
  baseSnapshotId: SnapshotId.nullable(),
  state: ReceiveState,
  /** The last durable offset: the sender continues from here. */
  receivedBytes: z.number().int().nonnegative(),
  error: z.string().nullable(),
});
export type ReceiveStatus = z.infer<typeof ReceiveStatus>;
export const ReceiveList = z.object({ receives: z.array(ReceiveStatus) });

/** PUT /v1/receives/:transferId/data?offset=N (peer): the stream from byte N on (application/octet-stream). */
export const ReceiveDataQuery = z.object({ offset: z.coerce.number().int().nonnegative() });

/**
 * How a receiver verifies a whole stream (a `complete` request):
 * - `native` (btrfs, zfs): the stream format's own checksums, which the receive tool verifies as it applies every
 *   command (btrfs: a crc32c per command; zfs: a fletcher4 per record and one over the stream), plus the length;
 *   a resumed stream's splice point is checked by the overlap the sender re-sends (see the data request);
 * - `records-sha256` (portable): `sha256` is the last link of the stream's header chain, each file being checked
 *   against the sha256 its header carries;
 * - `stream-sha256`: the sha256 of the stream's bytes (senders before `native`; refused by receivers that no
 *   longer hash the stream: upgrade the sending agent).
 */
export const StreamDigestKind = z.enum(['native', 'records-sha256', 'stream-sha256']);
export type StreamDigestKind = z.infer<typeof StreamDigestKind>;

/**
 * A data request for a stream that the sender regenerates from its start (btrfs, zfs) re-sends up to this many bytes
 * before the receiver's offset; the receiver checks them against what it has (the splice point is verified).
 */
export const STREAM_OVERLAP_BYTES = 64 * 1024;

/** POST /v1/receives/:transferId/complete (peer): the stream is whole; verified before the result is kept. */
export const CompleteReceiveRequest = z
  .object({
    totalBytes: z.number().int().nonnegative(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    /** absent = `stream-sha256` (senders before this field) */
    digest: StreamDigestKind.optional(),
  })
  .strict()
  .refine((b) => b.digest === 'native' || b.sha256 !== undefined, {
    path: ['sha256'],
    message: 'required unless digest is native',
  });

/**
 * The protocol of a data request upgraded to a raw byte stream (`connection: upgrade`, `upgrade: <this>`): after the
 * receiver's 101 the sender's snapshot tool writes the stream straight into the connection, the sender half-closes it
 * when the tool exited 0, and the receiver answers one JSON line: `{"status": ReceiveStatus}` or `{"problem": ...}`.
 */
export const DATA_STREAM_PROTOCOL = 'fsdr-stream/1';

/** Headers of the data plane: the sending node's id, and `authorization: Bearer <pair token>`. */
export const PEER_NODE_HEADER = 'x-gateway-node';

/**
 * POST /v1/receives/:transferId/commit: publish the received snapshot; `updateLive` (default true) brings the share
 * to it. Bringing a `read_write` share to it would discard what clients wrote there, so that is refused (409) unless
 * `force` is true (the failover's resync, after it took a safety snapshot of the share).
 */
export const CommitReceiveRequest = z
  .object({ updateLive: z.boolean().default(true), force: z.boolean().default(false) })
  .strict();
export type CommitReceiveRequest = z.infer<typeof CommitReceiveRequest>;

// ---------------------------------------------------------------------------------------------------------------
// Contract v1, continued: what a planned failover asks of a share (its tree's digest, the clients with open files).
// ---------------------------------------------------------------------------------------------------------------

/**
 * GET /v1/shares/:share/digest?portion=&snapshot=&content= : `snapshot` absent = the live tree clients see; `portion`
 * absent or "" = a standard share's root (a distributed share names one of its portions); `content=true` adds each
 * file's sha256 (reads every byte).
 */
export const DigestQuery = z
  .object({
    portion: PortionRef,
    snapshot: SnapshotId.optional(),
    content: z.enum(['true', 'false']).default('false'),
  })
  .strict();

/**
 * The digest of a portion's tree: equal for two trees exactly when they hold the same entries (path, type, permission
 * bits; size and mtime to the microsecond of files; mtime and target of symlinks; with content, each file's sha256).
 * Directory mtimes and the agent's own files are not in it (see docs/gateway.md, _Tree digest_). Two digests compare
 * only when their `algorithm` is the same.
 */
export const PortionDigest = z.object({
  share: ShareName,
  portion: z.string(),
  snapshotId: SnapshotId.nullable(),
  /** `fsdr-tree-v1` (metadata) or `fsdr-tree-v1+sha256` (with contents) */
  algorithm: z.string(),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  files: z.number().int().nonnegative(),
  /** directories below the portion's root (the root itself is in the digest, not in this count) */
  directories: z.number().int().nonnegative(),
  symlinks: z.number().int().nonnegative(),
  /** sum of the files' sizes */
  bytes: z.number().int().nonnegative(),
});
export type PortionDigest = z.infer<typeof PortionDigest>;

/** One file (or directory) an SMB client holds open on the share, as smbd reports it. */
export const OpenFile = z.object({
  /** relative to the share ("" = the share's root directory; a distributed share's paths start with the portion) */
  path: z.string(),
  /** the client's IP address (the machine name when smbd gives no address) */
  client: z.string(),
  /** the name the client gave for itself (NetBIOS name), or its address; null when unknown */
  machine: z.string().nullable(),
  /** the account of the session that opened it (uid:<n> when smbd knows no session for it) */
  user: z.string(),
  /** when it was opened; null when smbd does not say */
  since: IsoTime.nullable(),
});
export type OpenFile = z.infer<typeof OpenFile>;

/** GET /v1/shares/:share/open-files */
export const ShareOpenFiles = z.object({
  share: ShareName,
  /** whether this agent serves its shares through smbd (GATEWAY_SMB_CONF); false: no list, not an error */
  smb: z.boolean(),
  openFiles: z.array(OpenFile),
  /** SMB sessions with a tree connect to this share (connected clients, with or without open files) */
  sessions: z.number().int().nonnegative(),
});
export type ShareOpenFiles = z.infer<typeof ShareOpenFiles>;
