#!/usr/bin/env bash
# Two Pollux builds side by side: each round starts a fresh simulator and
# one Pollux process per binary in turn (old, then new), loads the same three
# paths (Gemini stream, Gemini unary, Codex stream) at concurrency C, and
# prints one line per binary and path:
#   LABEL PATH [ok, pollux_cpu_ms_per_request, p50_ms, pollux_peak_rss_mib, incomplete_streams]
# Compare the medians over the rounds: single rounds move with the machine.
#
# Usage: cmd/loadgen/compare.sh OLD_POLLUX NEW_POLLUX [rounds=3] [requests=3000] [concurrency=32]
# Env: SIM_BIN, LOADGEN_BIN (built from this tree otherwise), SIM_PORT, POLLUX_PORT.
set -euo pipefail
cd "$(dirname "$0")/../.."
OLD=$1; NEW=$2; R=${3:-3}; N=${4:-3000}; C=${5:-32}
SIM_PORT=${SIM_PORT:-19091}
POLLUX_PORT=${POLLUX_PORT:-18189}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
SIM_BIN=${SIM_BIN:-$work/upstreamsim}
LOADGEN_BIN=${LOADGEN_BIN:-$work/loadgen}
[ -x "$SIM_BIN" ] || go build -o "$SIM_BIN" ./cmd/upstreamsim
[ -x "$LOADGEN_BIN" ] || go build -o "$LOADGEN_BIN" ./cmd/loadgen
KEY=compare-key-$(date +%s)-0123456789abcdef
GBODY='{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
PURL=http://127.0.0.1:$POLLUX_PORT

run() { # binary label
  rm -f "$work"/pollux.db* "$work/sim.toml"
  "$SIM_BIN" -listen "127.0.0.1:$SIM_PORT" -gemini-accounts 8 -codex-accounts 8 -print-config >"$work/sim.toml" &
  local sim=$!
  for _ in $(seq 50); do grep -q "listening on" "$work/sim.toml" 2>/dev/null && break; sleep 0.1; done
  sed -e "s/^listen_port = .*/listen_port = $POLLUX_PORT/" -e "s|^database_url = .*|database_url = \"sqlite://$work/pollux.db\"|" \
    -e "s/^pollux_key = .*/pollux_key = \"$KEY\"/" -e 's/^log_format = .*/loglevel = "warn"/' \
    -e 's/^\[providers.geminicli\]/[providers.geminicli]\noauth_tps = 1000/; s/^\[providers.codex\]/[providers.codex]\noauth_tps = 1000/' \
    "$work/sim.toml" >"$work/config.toml"
  "$1" --config "$work/config.toml" >"$work/pollux.log" 2>&1 &
  local pollux=$!
  for _ in $(seq 100); do curl -sf "$PURL/healthz" >/dev/null && break; sleep 0.1; done
  add() { curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$PURL/$1/resource:add?wait=true" -d "$2" >/dev/null; }
  add geminicli "$(seq -f 'sim-gemini-%g' 0 7 | jq -R . | jq -s -c .)"
  add codex "$(seq -f 'sim-codex-%g' 0 7 | jq -R . | jq -s -c .)"
  local out
  for path in gstream gunary cstream; do
    case $path in
      gstream) out=$("$LOADGEN_BIN" -url "$PURL/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse" -header "Authorization: Bearer $KEY" -body "$GBODY" -n "$N" -c "$C" -stream -pid $pollux -json 2>&1) ;;
      gunary) out=$("$LOADGEN_BIN" -url "$PURL/geminicli/v1beta/models/gemini-2.5-pro:generateContent" -header "Authorization: Bearer $KEY" -body "$GBODY" -n "$N" -c "$C" -pid $pollux -json 2>&1) ;;
      cstream) out=$("$LOADGEN_BIN" -url "$PURL/codex/v1/responses" -header "Authorization: Bearer $KEY" -body '{"model":"gpt-5.2-codex","input":"hi","stream":true}' -n "$N" -c "$C" -stream -pid $pollux -json 2>&1) ;;
    esac
    echo "$2 $path $(echo "$out" | jq -c '[.ok, .process.cpu_ms_per_request, .latency_ms.p50, .process.peak_rss_mib, (.stream.incomplete // 0)]')"
  done
  kill $pollux $sim
  wait $pollux $sim 2>/dev/null || true
}

for _ in $(seq "$R"); do
  run "$OLD" old
  run "$NEW" new
done
