#!/usr/bin/env bash
# Memory and start-up with 10,000 credentials: one real Pollux process per
# binary given (interleaved, ROUNDS times), each against the same simulator
# of 10,000 Gemini accounts. For each run it prints one JSON line:
#   onboard_s       resource:add of 10,000 refresh tokens, until every verdict
#   idle_rss_mib    RSS after onboarding, at rest
#   idle_live_mib   live heap at the last collection before the load
#                   (GODEBUG=gctrace=1), and live_max_mib its peak under load
#   load            loadgen's [ok, cpu_ms_per_request, p50_ms, peak_rss_mib,
#                   incomplete streams] for Gemini streams at concurrency C
#   ready_s         a second process on the same database (the first one
#                   stopped): from exec to the first 200 of /readyz
#   ready_cpu_s     the CPU time (user + system) it took to get there: on a
#                   busy machine the steadier figure
#   ready_rss_mib   that process's RSS once ready
#   start_refreshes token refreshes the simulator saw from the restart's
#                   first 5 s (tokens are still valid: expect 0)
# Usage: cmd/loadgen/mem10k.sh [ROUNDS=1] [N=20000] [C=32] [POLLUX_BIN...]
# Without binaries it builds ./cmd/pollux. PORT_BASE (default 19400) picks
# the ports (simulator PORT_BASE, Pollux PORT_BASE+1).
set -euo pipefail
cd "$(dirname "$0")/../.."
R=${1:-1}
N=${2:-20000}
C=${3:-32}
shift $(($# < 3 ? $# : 3))
ACCOUNTS=${ACCOUNTS:-10000}
SIMPORT=${PORT_BASE:-19400}
PPORT=$((SIMPORT + 1))
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
BINS=("$@")
if [ ${#BINS[@]} -eq 0 ]; then
  go build -o "$work/pollux" ./cmd/pollux
  BINS=("$work/pollux")
fi
go build -o "$work/upstreamsim" ./cmd/upstreamsim
go build -o "$work/loadgen" ./cmd/loadgen

"$work/upstreamsim" -listen 127.0.0.1:$SIMPORT -gemini-accounts "$ACCOUNTS" -codex-accounts 1 -print-config >"$work/sim.toml" &
for _ in $(seq 100); do grep -q "listening on" "$work/sim.toml" 2>/dev/null && break; sleep 0.1; done
KEY=mem-key-$(date +%s)-0123456789abcdef
sed -e "s/^listen_port = .*/listen_port = $PPORT/" -e "s|^database_url = .*|database_url = \"sqlite://$work/pollux.db\"|" \
  -e "s/^pollux_key = .*/pollux_key = \"$KEY\"/" -e 's/^log_format = .*/loglevel = "warn"/' \
  -e 's/^\[providers.geminicli\]/[providers.geminicli]\noauth_tps = 1000/; s/^\[providers.codex\]/[providers.codex]\noauth_tps = 1000/' \
  "$work/sim.toml" >"$work/config.toml"
# resource:add takes at most 1000 tokens a body.
for ((i = 0; i < ACCOUNTS; i += 1000)); do
  seq -f 'sim-gemini-%g' $i $((i + 999 < ACCOUNTS - 1 ? i + 999 : ACCOUNTS - 1)) | jq -R . | jq -s -c . >"$work/tokens-$i.json"
done
GBODY='{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
now() { date +%s.%N; }
cpu() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# live prints the live heap (MiB) after each collection in a gctrace log.
live() { grep -o '[0-9]*->[0-9]*->[0-9]* MB' "$@" | sed 's/.*->\([0-9]*\) MB/\1/'; }
refreshes() { curl -sf "127.0.0.1:$SIMPORT/_sim/stats" | jq '[.gemini[].refreshes] | add'; }

one() { # binary
  rm -f "$work"/pollux.db*
  GODEBUG=gctrace=1 "$1" --config "$work/config.toml" >"$work/pollux.log" 2>&1 &
  local P=$!
  for _ in $(seq 200); do curl -sf "localhost:$PPORT/readyz" >/dev/null && break; sleep 0.05; done
  local t0 t1
  t0=$(now)
  for f in "$work"/tokens-*.json; do
    curl -sS -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
      "localhost:$PPORT/geminicli/resource:add?wait=true" --data-binary @"$f" -o "$work/verdicts.json"
    [ "$(jq '[.verdicts[] | select(.result == "added")] | length' "$work/verdicts.json" 2>/dev/null)" -gt 0 ] ||
      { echo "resource:add failed: $(head -c 300 "$work/verdicts.json")" >&2; exit 1; }
  done
  t1=$(now)
  sleep 2
  local idle load mark idle_live live_max
  idle=$(rss $P)
  mark=$(wc -l <"$work/pollux.log")
  idle_live=$(live "$work/pollux.log" | tail -1)
  load=$("$work/loadgen" -url "http://127.0.0.1:$PPORT/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse" \
    -header "Authorization: Bearer $KEY" -body "$GBODY" -n "$N" -c "$C" -stream -pid $P -json 2>&1 |
    jq -c '[.ok, .process.cpu_ms_per_request, .latency_ms.p50, .process.peak_rss_mib, (.stream.incomplete // 0)]')
  live_max=$(tail -n +"$mark" "$work/pollux.log" | live | sort -n | tail -1)
  kill -TERM $P
  wait $P 2>/dev/null || true
  # Start-up on the database just written: exec to the first ready answer.
  local before s0 s1 P2 ready_rss ready_cpu after
  before=$(refreshes)
  s0=$(now)
  "$1" --config "$work/config.toml" >"$work/pollux2.log" 2>&1 &
  P2=$!
  until curl -sf "localhost:$PPORT/readyz" >/dev/null 2>&1; do sleep 0.005; done
  s1=$(now)
  ready_cpu=$(cpu $P2)
  ready_rss=$(rss $P2)
  sleep 5
  after=$(refreshes)
  kill -TERM $P2
  wait $P2 2>/dev/null || true
  jq -cn --arg bin "$1" --argjson onboard "$(echo "$t1 - $t0" | bc)" --argjson idle "$idle" --argjson load "$load" \
    --argjson il "${idle_live:-0}" --argjson lm "${live_max:-0}" \
    --argjson ready "$(echo "$s1 - $s0" | bc)" --argjson rcpu "$ready_cpu" --argjson rrss "$ready_rss" --argjson refr "$((after - before))" \
    '{bin: $bin, onboard_s: $onboard, idle_rss_mib: $idle, idle_live_mib: $il, live_max_mib: $lm, load: $load, ready_s: $ready, ready_cpu_s: $rcpu, ready_rss_mib: $rrss, start_refreshes: $refr}'
}
for _ in $(seq "$R"); do
  for b in "${BINS[@]}"; do one "$b"; done
done
