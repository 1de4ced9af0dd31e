#!/usr/bin/env bash
# Pollux against the floor. Per path (gunary, gstream, cstream, cunary) the
# same requests go straight at cmd/upstreamsim in the upstream's wire format
# (the floor: the simulator and loadgen alone), through cmd/bareproxy (the
# reference: the least a net/http proxy does) and through Pollux, round by
# round, interleaved: at load (-c C) for CPU per request, and at C=1 for the
# added latency. loadgen -compare then prints Pollux / floor, bare / floor
# and Pollux / bare per path as the README's table. Absolute figures move
# with the machine; the ratios are measured in the same run.
#
# Usage: cmd/loadgen/floor.sh [rounds=3] [requests=2000] [concurrency=32] [paths]
# Env: POLLUX_BIN, SIM_BIN, LOADGEN_BIN, BARE_BIN (prebuilt binaries; built
# from this tree otherwise), N1 (requests per C=1 run, default requests/10),
# SIM_PORT, POLLUX_PORT, BARE_PORT, OUT (a file to keep the raw -json
# summaries in).
set -euo pipefail
cd "$(dirname "$0")/../.."
R=${1:-3}
N=${2:-2000}
C=${3:-32}
PATHS=${4:-"gunary gstream cstream cunary"}
N1=${N1:-$((N / 10))}
SIM_PORT=${SIM_PORT:-19094}
POLLUX_PORT=${POLLUX_PORT:-18194}
BARE_PORT=${BARE_PORT:-18195}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

POLLUX_BIN=${POLLUX_BIN:-$work/pollux}
SIM_BIN=${SIM_BIN:-$work/upstreamsim}
LOADGEN_BIN=${LOADGEN_BIN:-$work/loadgen}
BARE_BIN=${BARE_BIN:-$work/bareproxy}
[ -x "$POLLUX_BIN" ] || go build -o "$POLLUX_BIN" ./cmd/pollux
[ -x "$SIM_BIN" ] || go build -o "$SIM_BIN" ./cmd/upstreamsim
[ -x "$LOADGEN_BIN" ] || go build -o "$LOADGEN_BIN" ./cmd/loadgen
[ -x "$BARE_BIN" ] || go build -o "$BARE_BIN" ./cmd/bareproxy

# Accounts 0-7 serve Pollux; account 8 of each provider serves the floor (a
# Codex refresh token works once, so the two never share one).
"$SIM_BIN" -listen "127.0.0.1:$SIM_PORT" -gemini-accounts 9 -codex-accounts 9 -print-config >"$work/sim.toml" &
SIM=$!
for _ in $(seq 50); do grep -q "listening on" "$work/sim.toml" 2>/dev/null && break; sleep 0.1; done
SIMURL=http://127.0.0.1:$SIM_PORT
PURL=http://127.0.0.1:$POLLUX_PORT
BURL=http://127.0.0.1:$BARE_PORT
"$BARE_BIN" -listen "127.0.0.1:$BARE_PORT" -upstream "$SIMURL" >"$work/bare.log" 2>&1 &
BARE=$!
KEY=floor-key-$(date +%s)-0123456789abcdef
sed -e "s/^listen_port = .*/listen_port = $POLLUX_PORT/" -e "s|^database_url = .*|database_url = \"sqlite://$work/pollux.db\"|" \
  -e "s/^pollux_key = .*/pollux_key = \"$KEY\"/" -e 's/^log_format = .*/loglevel = "warn"/' \
  -e 's/^\[providers.geminicli\]/[providers.geminicli]\noauth_tps = 1000/; s/^\[providers.codex\]/[providers.codex]\noauth_tps = 1000/' \
  "$work/sim.toml" >"$work/config.toml"
"$POLLUX_BIN" --config "$work/config.toml" >"$work/pollux.log" 2>&1 &
POLLUX=$!
for _ in $(seq 100); do curl -sf "$PURL/healthz" >/dev/null && break; sleep 0.1; done
add() { curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$PURL/$1/resource:add?wait=true" -d "$2" >/dev/null; }
add geminicli "$(seq -f 'sim-gemini-%g' 0 7 | jq -R . | jq -s -c .)"
add codex "$(seq -f 'sim-codex-%g' 0 7 | jq -R . | jq -s -c .)"

GTOKEN=$(curl -sf -d grant_type=refresh_token -d refresh_token=sim-gemini-8 -d client_id=loadgen "$SIMURL/gemini/token" | jq -r .access_token)
CTOKEN=$(curl -sf -d grant_type=refresh_token -d refresh_token=sim-codex-8 -d client_id=app_EMoamEEZ73f0CkXaXp7hrann "$SIMURL/codex/oauth/token" | jq -r .access_token)

# one TARGET PATH N C: one loadgen run, its -json summary appended to
# runs.json (or to $RUNS).
one() {
  local target=$1 path=$2 n=$3 c=$4
  local args=(-path "$path" -n "$n" -c "$c" -json)
  if [ "$target" != pollux ]; then
    if [ "$target" = floor ]; then
      args+=(-floor -url "$SIMURL" -pid "$SIM")
    else
      args+=(-bare -url "$BURL" -pid "$BARE" -upstream-pid "$SIM")
    fi
    case $path in
      g*) args+=(-project sim-project-8 -header "Authorization: Bearer $GTOKEN") ;;
      c*) args+=(-header "Authorization: Bearer $CTOKEN" -header "chatgpt-account-id: sim-codex-account-8") ;;
    esac
  else
    args+=(-url "$PURL" -header "Authorization: Bearer $KEY" -pid "$POLLUX" -upstream-pid "$SIM")
  fi
  "$LOADGEN_BIN" "${args[@]}" >>"${RUNS:-$work/runs.json}"
}

# Warm the proxies (connections, caches, the scheduler's first leases).
for path in $PATHS; do
  RUNS=/dev/null one pollux "$path" 200 "$C"
  RUNS=/dev/null one bare "$path" 200 "$C"
done
for r in $(seq "$R"); do
  for path in $PATHS; do
    # Rotate who goes first, so none always meets a warmer machine.
    case $((r % 3)) in
      1) order="floor bare pollux" ;;
      2) order="pollux floor bare" ;;
      *) order="bare pollux floor" ;;
    esac
    for target in $order; do one "$target" "$path" "$N" "$C"; done
    for target in $order; do one "$target" "$path" "$N1" 1; done
  done
  echo "round $r of $R done" >&2
done
[ -n "${OUT:-}" ] && cp "$work/runs.json" "$OUT"
echo "== Pollux / floor: $R rounds, $N requests at C=$C (CPU), $N1 at C=1 (latency); $(date -u +%F), $(nproc) cores"
"$LOADGEN_BIN" -compare "$work/runs.json"
grep -c '"level":"error"' "$work/pollux.log" | sed 's/^/pollux error lines: /' || true
