#!/usr/bin/env bash
# Proxy benchmark: the same load, in the same run, straight at the upstream
# simulator (baseline) and through Pollux. Prints loadgen's summaries; the
# figures to compare are CPU ms per request of each process and Pollux's RSS.
# Usage: cmd/loadgen/bench.sh [requests] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-5000}
C=${2:-32}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/pollux" ./cmd/pollux
go build -o "$work/upstreamsim" ./cmd/upstreamsim
go build -o "$work/loadgen" ./cmd/loadgen

"$work/upstreamsim" -listen 127.0.0.1:19090 -gemini-accounts 8 -codex-accounts 8 -print-config >"$work/sim.toml" &
SIM=$!
for _ in $(seq 50); do grep -q "listening on" "$work/sim.toml" 2>/dev/null && break; sleep 0.1; done
KEY=bench-key-$(date +%s)-0123456789abcdef
# The simulator prints a complete config; adjust its [basic] for the bench.
sed -e 's/^listen_port = .*/listen_port = 18188/' -e "s|^database_url = .*|database_url = \"sqlite://$work/pollux.db\"|" \
  -e "s/^pollux_key = .*/pollux_key = \"$KEY\"/" -e 's/^log_format = .*/loglevel = "warn"/' \
  -e 's/^\[providers.geminicli\]/[providers.geminicli]\noauth_tps = 1000/; s/^\[providers.codex\]/[providers.codex]\noauth_tps = 1000/' \
  "$work/sim.toml" >"$work/config.toml"
"$work/pollux" --config "$work/config.toml" >"$work/pollux.log" 2>&1 &
POLLUX=$!
for _ in $(seq 100); do curl -sf localhost:18188/healthz >/dev/null && break; sleep 0.1; done
add() { curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "localhost:18188/$1/resource:add?wait=true" -d "$2" >/dev/null; }
add geminicli "$(seq -f 'sim-gemini-%g' 0 7 | jq -R . | jq -s -c .)"
add codex "$(seq -f 'sim-codex-%g' 0 7 | jq -R . | jq -s -c .)"

GBODY='{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
AT=$(curl -s -d grant_type=refresh_token -d refresh_token=sim-gemini-0 -d client_id=x http://127.0.0.1:19090/gemini/token | jq -r .access_token)
echo "== baseline: Gemini stream straight at the simulator (simulator CPU)"
"$work/loadgen" -url 'http://127.0.0.1:19090/gemini/v1internal:streamGenerateContent?alt=sse' -header "Authorization: Bearer $AT" \
  -body '{"model":"gemini-2.5-pro","project":"sim-project-0","request":'"$GBODY"'}' -n "$N" -c "$C" -stream -pid $SIM
echo "== Gemini stream through Pollux (Pollux CPU)"
"$work/loadgen" -url 'http://127.0.0.1:18188/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse' \
  -header "Authorization: Bearer $KEY" -body "$GBODY" -n "$N" -c "$C" -stream -pid $POLLUX
echo "== Gemini generateContent through Pollux (Pollux CPU)"
"$work/loadgen" -url 'http://127.0.0.1:18188/geminicli/v1beta/models/gemini-2.5-pro:generateContent' \
  -header "Authorization: Bearer $KEY" -body "$GBODY" -n "$N" -c "$C" -pid $POLLUX
echo "== Codex Responses stream through Pollux (Pollux CPU)"
"$work/loadgen" -url 'http://127.0.0.1:18188/codex/v1/responses' -header "Authorization: Bearer $KEY" \
  -body '{"model":"gpt-5.2-codex","input":"hi","stream":true}' -n "$N" -c "$C" -stream -pid $POLLUX
grep -c '"level":"error"' "$work/pollux.log" | sed 's/^/pollux error lines: /' || true
