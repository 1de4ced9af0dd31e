#!/usr/bin/env bash
# Soak: Pollux under streaming load on both surfaces for a long time, with a
# steady mix of injected upstream faults, sampling Pollux's RSS, live heap,
# goroutines and open fds (loadgen soak mode). Prints a sample line every
# SAMPLE and a summary per surface at the end; the figures to watch are the
# first and last samples (flat is good) and "streams ... errored/incomplete"
# (every failure must reach the client well-formed).
# Usage: cmd/loadgen/soak.sh [duration=1h] [concurrency=32] [sample=60s]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-1h}
C=${2:-32}
SAMPLE=${3:-60s}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/pollux" ./cmd/pollux
go build -o "$work/upstreamsim" ./cmd/upstreamsim
go build -o "$work/loadgen" ./cmd/loadgen

"$work/upstreamsim" -listen 127.0.0.1:19091 -gemini-accounts 8 -codex-accounts 8 -print-config >"$work/sim.toml" &
for _ in $(seq 50); do grep -q "listening on" "$work/sim.toml" 2>/dev/null && break; sleep 0.1; done
KEY=soak-key-$(date +%s)-0123456789abcdef
sed -e 's/^listen_port = .*/listen_port = 18189/' -e "s|^database_url = .*|database_url = \"sqlite://$work/pollux.db\"|" \
  -e "s/^pollux_key = .*/pollux_key = \"$KEY\"/" -e 's/^log_format = .*/loglevel = "warn"/' \
  -e 's/^\[providers.geminicli\]/[providers.geminicli]\noauth_tps = 1000/; s/^\[providers.codex\]/[providers.codex]\noauth_tps = 1000/' \
  "$work/sim.toml" >"$work/config.toml"
"$work/pollux" --config "$work/config.toml" >"$work/pollux.log" 2>&1 &
POLLUX=$!
for _ in $(seq 100); do curl -sf localhost:18189/healthz >/dev/null && break; sleep 0.1; done
add() { curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "localhost:18189/$1/resource:add?wait=true" -d "$2" >/dev/null; }
add geminicli "$(seq -f 'sim-gemini-%g' 0 7 | jq -R . | jq -s -c .)"
add codex "$(seq -f 'sim-codex-%g' 0 7 | jq -R . | jq -s -c .)"

# The fault mix: every 2 s one short-lived fault per surface, in rotation.
faults() {
  local g=('{"kind":"429_retryinfo","retry_after_secs":2}' '{"kind":"429_capacity"}' '{"kind":"500"}' '{"kind":"503"}'
    '{"kind":"reset_before_headers"}' '{"kind":"slow_first_byte","ms":800}' '{"kind":"cut_mid_stream","after_events":1}' '{"kind":"401"}')
  local c=('{"kind":"500"}' '{"kind":"503"}' '{"kind":"overload_in_200"}' '{"kind":"reset_before_headers"}'
    '{"kind":"slow_first_byte","ms":800}' '{"kind":"cut_mid_stream","after_events":3}' '{"kind":"token_invalidated"}' '{"kind":"429_no_details"}')
  local i=0 n=0
  while :; do
    curl -sf -X POST localhost:19091/_sim/gemini/script -d "${g[i]}" >/dev/null && n=$((n + 1))
    curl -sf -X POST localhost:19091/_sim/codex/script -d "${c[i]}" >/dev/null && n=$((n + 1))
    echo "$n" >"$work/faults"
    i=$(((i + 1) % 8))
    sleep 2
  done
}
faults &

GBODY='{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
"$work/loadgen" -url 'http://127.0.0.1:18189/codex/v1/responses' -header "Authorization: Bearer $KEY" \
  -body '{"model":"gpt-5.2-codex","input":"hi","stream":true}' -duration "$DUR" -c "$((C / 2))" -stream >"$work/codex.txt" &
CODEX=$!
echo "== soak: $DUR, $C streams in flight (half per surface), sampling every $SAMPLE"
"$work/loadgen" -url 'http://127.0.0.1:18189/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse' \
  -header "Authorization: Bearer $KEY" -body "$GBODY" -duration "$DUR" -c "$((C / 2))" -stream \
  -pid $POLLUX -sample "$SAMPLE" -metrics http://127.0.0.1:18189/metrics
wait $CODEX
echo "== codex surface"
cat "$work/codex.txt"
echo "faults injected: $(cat "$work/faults" 2>/dev/null || echo 0)"
grep -c '"level":"error"' "$work/pollux.log" | sed 's/^/pollux error lines: /' || true
grep -c 'panic' "$work/pollux.log" | sed 's/^/pollux panic lines: /' || true
