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

# TLS: a CA of the deployment (its key stays here) and the certificates it signs: the API's (names api and
# localhost) and each gateway's (its service name, and fsdr://<file server>/<node>: see README, Security). Replace
# them with your own PKI's as you like; kept when present, like the secrets above.
cert() { # <name> <subjectAltName>
  [ -s "$dir/$1.pem" ] && return 0
  (umask 077; openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$1.key" \
    -subj "/CN=$1" -out "$dir/$1.csr" 2>/dev/null)
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyAgreement\n' "$2" > "$dir/$1.ext"
  openssl x509 -req -in "$dir/$1.csr" -CA "$dir/tls_ca.pem" -CAkey "$dir/tls_ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 825 -out "$dir/$1.pem" -extfile "$dir/$1.ext" 2>/dev/null
  rm -f "$dir/$1.csr" "$dir/$1.ext"
  echo "created deploy/secrets/$1.pem"
}
if [ ! -s "$dir/tls_ca.pem" ]; then
  (umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/tls_ca.key" \
    -out "$dir/tls_ca.pem" -days 3650 -subj "/CN=fs-dr deployment CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null)
  echo "created deploy/secrets/tls_ca.pem"
fi
cert api "DNS:api,DNS:localhost,IP:127.0.0.1"
for n in a1 a2 b1 b2; do
  cert "gw-$n" "DNS:gw-$n,URI:fsdr://fs-${n:0:1}/$n"
done
