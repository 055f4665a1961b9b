#!/usr/bin/env bash
# Runs the FSVM gateway agents of several file servers on one machine, with everything they need: a control token per
# agent (what the orchestrator presents), a pair secret for every two FSVMs of different file servers (the data plane:
# every source FSVM needs one with every destination FSVM, both sides the same), and, where Samba is installed, one
# smbd per FSVM on its own loopback port serving that FSVM's shares (the agent owns its smb.conf include file and
# reloads smbd by its pid file). `npm start` runs the demo sites with it; docs/gateway.md explains it line by line.
#
#   scripts/gateway-sites.sh <dir>
#
# <dir>/sites.conf names the FSVMs, one a line:   <file server> <node id> <gateway port> <smb port or -> [<smb address>]
# (the smb address: where that FSVM's smbd listens, e.g. its file server's client-facing address; default: every
# address of the loopback interface)
# Everything else is kept under <dir>/<node id>/ (data root, token, peers, smb.conf, logs) and <dir>/pairs/, created
# on the first run (secrets mode 0600) and reused after. Prints one line per FSVM, then runs until SIGTERM/SIGINT (or
# until the process that started it exits), and then stops the agents (they pause their transfers) and the smbds.
# Environment: GATEWAY_HOST (default 127.0.0.1), GATEWAY_BANDWIDTH_LIMIT (per stream, passed to every agent),
# GATEWAY_DRIVER (default portable), GATEWAY_ENTRY (default: the TypeScript source through tsx; `dist` for the build).
set -euo pipefail

if [ $# -ne 1 ] || [ ! -f "$1/sites.conf" ]; then
  echo "usage: $0 <dir>   (<dir>/sites.conf: '<file server> <node id> <gateway port> <smb port or -> [<smb address>]' per line)" >&2
  exit 2
fi
dir="$(cd "$1" && pwd)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
host="${GATEWAY_HOST:-127.0.0.1}"
parent=$PPID

fs=() node=() gport=() sport=() saddr=()
while read -r f n g s a _; do
  [[ -z "$f" || "$f" == \#* ]] && continue
  [[ "$n" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]] || { echo "sites.conf: bad node id '$n'" >&2; exit 2; }
  [[ "$g" =~ ^[0-9]+$ ]] || { echo "sites.conf: bad gateway port '$g' for $n" >&2; exit 2; }
  [[ -z "${a:-}" || "$a" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || { echo "sites.conf: bad smb address '$a' for $n" >&2; exit 2; }
  fs+=("$f") node+=("$n") gport+=("$g") sport+=("${s:--}") saddr+=("${a:-}")
done < "$dir/sites.conf"
count=${#node[@]}
[ "$count" -gt 0 ] || { echo "sites.conf lists no FSVM" >&2; exit 2; }

# A secret of 40 URL-safe characters, written once (mode 0600) and kept.
secret_file() {
  [ -s "$1" ] && return 0
  (umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n=+/' | cut -c1-40 > "$1.tmp" && mv "$1.tmp" "$1")
}

mkdir -p "$dir/pairs"
for ((i = 0; i < count; i++)); do
  mkdir -p "$dir/${node[i]}/data"
  secret_file "$dir/${node[i]}/token"
done
# Pair secrets: every two FSVMs of different file servers share one; each agent's peers file lists its own.
for ((i = 0; i < count; i++)); do
  peers="$dir/${node[i]}/peers"
  (umask 077 && : > "$peers.tmp")
  for ((j = 0; j < count; j++)); do
    [ "${fs[i]}" = "${fs[j]}" ] && continue
    if [[ "${node[i]}" < "${node[j]}" ]]; then pair="${node[i]}+${node[j]}"; else pair="${node[j]}+${node[i]}"; fi
    secret_file "$dir/pairs/$pair"
    echo "${node[j]}=$(cat "$dir/pairs/$pair")" >> "$peers.tmp"
  done
  mv "$peers.tmp" "$peers"
done

smbd_bin="$(command -v smbd || true)"
[ -z "$smbd_bin" ] && [ -x /usr/sbin/smbd ] && smbd_bin=/usr/sbin/smbd

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

smbd_pids=() agent_pids=() sleeper=
stop_all() {
  trap - TERM INT
  if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null || true; fi
  for p in "${agent_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${agent_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for p in "${smbd_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${smbd_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  echo "gateway-sites: stopped ${#agent_pids[@]} agents and ${#smbd_pids[@]} smbd"
  exit 0
}
trap stop_all TERM INT

if [ -z "$smbd_bin" ]; then
  echo "gateway-sites: Samba's smbd is not installed: shares are not served over SMB (apt-get install samba)"
fi

for ((i = 0; i < count; i++)); do
  n="${node[i]}" nd="$dir/${node[i]}"
  smb_env=()
  smb_note="no SMB"
  if [ -n "$smbd_bin" ] && [ "${sport[i]}" != "-" ]; then
    smb="$nd/smb"
    # Its own address when one is given (the file server's client-facing address), else every loopback address.
    listen="${saddr[i]:-lo}" probe="${saddr[i]:-$host}"
    mkdir -p "$smb"/{private,lock,state,cache,pid,ncalrpc}
    [ -f "$smb/shares.conf" ] || : > "$smb/shares.conf"
    cat > "$smb/smb.conf" <<EOF
[global]
  workgroup = FSDRDEMO
  server role = standalone server
  interfaces = $listen
  bind interfaces only = yes
  smb ports = ${sport[i]}
  private dir = $smb/private
  lock directory = $smb/lock
  state directory = $smb/state
  cache directory = $smb/cache
  pid directory = $smb/pid
  ncalrpc dir = $smb/ncalrpc
  log file = $smb/log.%m
  map to guest = Bad User
  guest ok = yes
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  include = $smb/shares.conf
EOF
    # Its own session: smbd signals its whole process group when it stops.
    setsid "$smbd_bin" -s "$smb/smb.conf" --foreground --no-process-group --debug-stdout -d 1 >> "$smb/smbd.log" 2>&1 &
    spid=$!
    smbd_pids+=("$spid") # known at once: a signal during its start-up stops it too
    echo "$spid" > "$smb/smbd-agent.pid"
    for _ in $(seq 100); do port_open "$probe" "${sport[i]}" && break; kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
    if port_open "$probe" "${sport[i]}"; then
      smb_env=(GATEWAY_SMB_CONF="$smb/shares.conf" GATEWAY_SMBD_PID_FILE="$smb/smbd-agent.pid")
      smb_note="smbd on $probe:${sport[i]}"
    else
      kill -KILL "$spid" 2>/dev/null || true
      smb_note="smbd did not start (see $smb/smbd.log): no SMB"
    fi
  fi
  if [ "${GATEWAY_ENTRY:-}" = dist ]; then entry=("$root/dist/gateway/main.js"); else entry=(--import tsx "$root/gateway/main.ts"); fi
  (
    cd "$root"
    exec env "${smb_env[@]}" \
      GATEWAY_FILE_SERVER_ID="${fs[i]}" GATEWAY_NODE_ID="$n" GATEWAY_LISTEN="$host:${gport[i]}" \
      GATEWAY_DATA_ROOT="$nd/data" GATEWAY_DRIVER="${GATEWAY_DRIVER:-portable}" \
      GATEWAY_TOKEN_FILE="$nd/token" GATEWAY_PEER_TOKENS_FILE="$nd/peers" \
      GATEWAY_BANDWIDTH_LIMIT="${GATEWAY_BANDWIDTH_LIMIT:-0}" LOG_FORMAT=json \
      node --max-semi-space-size=4 "${entry[@]}"
  ) >> "$nd/gateway.log" 2>&1 &
  agent_pids+=($!)
  echo "gateway-sites: ${fs[i]}/$n: gateway http://$host:${gport[i]}, $smb_note, data $nd/data, log $nd/gateway.log"
done

# Runs until signalled, or until the process that started it is gone (then nobody else would stop the agents).
while kill -0 "$parent" 2>/dev/null; do
  sleep 1 &
  sleeper=$!
  wait "$sleeper" || true
done
stop_all
