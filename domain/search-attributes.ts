// Search attributes let an operator filter the Temporal Web UI by file server, share, policy or operation kind.
// Shared by the client (to set them at start) and workflows (to upsert them); registered on the dev server at start
// and, in production, once with `temporal operator search-attribute create` (README, Operations).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const FILE_SERVERS = defineSearchAttributeKey('DrFileServers', SearchAttributeType.KEYWORD_LIST);
export const SHARE = defineSearchAttributeKey('DrShare', SearchAttributeType.KEYWORD);
export const POLICY = defineSearchAttributeKey('DrPolicy', SearchAttributeType.KEYWORD);
export const OPERATION_KIND = defineSearchAttributeKey('DrOperationKind', SearchAttributeType.KEYWORD);

/** name -> type as the Temporal CLI's `--search-attribute Name=Type` expects it. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'KeywordList'> = {
  [FILE_SERVERS.name]: 'KeywordList',
  [SHARE.name]: 'Keyword',
  [POLICY.name]: 'Keyword',
  [OPERATION_KIND.name]: 'Keyword',
};

export const ALL_SEARCH_ATTRIBUTES = [FILE_SERVERS, SHARE, POLICY, OPERATION_KIND];
