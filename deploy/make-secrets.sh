#!/usr/bin/env bash
# Creates the secret files docker-compose.yml mounts (deploy/secrets/, git-ignored). Existing files are kept, so
# running it again never rotates a key that encrypted data already depends on.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
make() { [ -s "$dir/$1" ] || { (umask 077; printf '%s' "$2" > "$dir/$1"); echo "created deploy/secrets/$1"; }; }
rand() { head -c 32 /dev/urandom | base64 | tr -d '/+=' | head -c "${1:-32}"; }
make temporal_db_password "$(rand)"
make admin_db_password "$(rand)"
make admin_db_url "postgresql://fsdr:$(cat "$dir/admin_db_password")@admin-db:5432/fsdr"
make secrets_key "$(head -c 32 /dev/urandom | base64)"
make gateway_token "$(rand 48)"
pair="$(rand 48)"
make peer_tokens "a1=$pair,a2=$pair,b1=$pair,b2=$pair"
