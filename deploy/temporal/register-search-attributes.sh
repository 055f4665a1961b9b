#!/bin/sh
# Registers the search attributes of domain/search-attributes.ts; an attribute that exists already is left alone.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
for attr in DrFileServers:KeywordList DrShare:Keyword DrPolicy:Keyword DrOperationKind:Keyword; do
  name="${attr%%:*}"; type="${attr##*:}"
  if temporal operator search-attribute list --namespace "$ns" --address "$TEMPORAL_ADDRESS" | grep -qw "$name"; then
    echo "search attribute $name exists"
  else
    temporal operator search-attribute create --namespace "$ns" --address "$TEMPORAL_ADDRESS" --name "$name" --type "$type"
  fi
done
