#!/usr/bin/env bash
# Rule evaluation CPU, side by side: N recording rules over the series of bench-targets, evaluated every
# INTERVAL, for a server binary with Prometheus's flags. Runs the server twice on the same load — with the rules
# and without — and reports the CPU (utime+stime from /proc) of each run and their difference, which is the cost
# of rule evaluation. Usage:
#   benches/rules-bench.sh SERVER_BIN [RULES=1000] [TARGETS=5] [SERIES=2000] [INTERVAL=15] [DURATION=120]
# Needs ../shared/bench/targets built (bench-scrape.sh builds it to $TMPDIR/bench-targets-target).
set -euo pipefail
BIN="$1"; RULES="${2:-1000}"; TARGETS="${3:-5}"; SERIES="${4:-2000}"; INTERVAL="${5:-15}"; DURATION="${6:-120}"
TB="${BENCH_TARGETS_BIN:-${TMPDIR:-/tmp}/bench-targets-target/release/bench-targets}"
[ -x "$TB" ] || { echo "bench-targets not built at $TB" >&2; exit 2; }
WORK="$(mktemp -d)"; trap 'kill $TPID 2>/dev/null || true; rm -rf "$WORK"' EXIT
BASE=29700; PORT=29690
"$TB" --targets "$TARGETS" --series "$SERIES" --hist-fraction 0 --base-port $BASE --max-runtime 3600 >/dev/null 2>&1 &
TPID=$!
sleep 1
# Counter families of bench-targets: bench_events_K_total / bench_busy_K_seconds_total, 10 label sets each.
fams=()
for k in $(seq 0 400); do
  if [ $((k % 4)) -eq 3 ]; then n="bench_busy_${k}_seconds_total"; else n="bench_events_${k}_total"; fi
  if curl -sf "http://127.0.0.1:$BASE/metrics" | grep -q "^$n{"; then fams+=("$n"); fi
  [ ${#fams[@]} -ge 100 ] && break
done
[ ${#fams[@]} -gt 0 ] || { echo "no counter families found" >&2; exit 2; }
{
  echo "groups:"
  g=0
  for i in $(seq 0 $((RULES - 1))); do
    if [ $((i % 100)) -eq 0 ]; then echo "  - name: g$g"; echo "    rules:"; g=$((g + 1)); fi
    f="${fams[$((i % ${#fams[@]}))]}"
    case $((i % 4)) in
      0) e="sum by (instance) (rate(${f}[1m]))" ;;
      1) e="sum by (series_id) (rate(${f}[5m]))" ;;
      2) e="max by (job) (increase(${f}[2m]))" ;;
      3) e="count by (instance) (${f} > 0)" ;;
    esac
    echo "      - record: rule:r${i}"
    echo "        expr: ${e}"
  done
} > "$WORK/rules.yml"
targets=""
for i in $(seq 0 $((TARGETS - 1))); do targets="$targets\"127.0.0.1:$((BASE + i))\","; done
cfg() { # $1 = with rules (1/0)
  echo "global: {scrape_interval: ${INTERVAL}s, evaluation_interval: ${INTERVAL}s}"
  [ "$1" = 1 ] && echo "rule_files: [\"$WORK/rules.yml\"]"
  echo "scrape_configs: [{job_name: bench, static_configs: [{targets: [${targets%,}]}]}]"
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # $1 = with rules
  cfg "$1" > "$WORK/prom.yml"
  rm -rf "$WORK/data"
  "$BIN" --config.file="$WORK/prom.yml" --storage.tsdb.path="$WORK/data" --web.listen-address=127.0.0.1:$PORT \
    >"$WORK/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$PORT/-/ready" >/dev/null && break; sleep 0.2; done
  sleep $((INTERVAL * 2))            # warm-up: first scrapes and evaluations
  local c0; c0=$(cpu $pid)
  sleep "$DURATION"
  local c1; c1=$(cpu $pid)
  local evals=""
  if [ "$1" = 1 ]; then
    evals=$(curl -s "127.0.0.1:$PORT/metrics" | awk '/^prometheus_rule_evaluations_total/ {s += $2} END {print s}')
    fails=$(curl -s "127.0.0.1:$PORT/metrics" | awk '/^prometheus_rule_evaluation_failures_total/ {s += $2} END {print s}')
    series=$(curl -s "127.0.0.1:$PORT/api/v1/query" --data-urlencode 'query=count({__name__=~"rule:r.*"})' \
      | sed -n 's/.*"value":\[[^,]*,"\([0-9.]*\)".*/\1/p')
    evals="$evals evaluations, $fails failures, $series rule series"
  fi
  kill $pid; wait $pid 2>/dev/null || true
  echo "$(( c1 - c0 )) $evals"
}
TCK=$(getconf CLK_TCK)
with=$(run 1); without=$(run 0)
w=${with%% *}; wo=${without%% *}
printf 'server: %s\nrules: %s over %s series, interval %ss, window %ss\n' "$BIN" "$RULES" "$((TARGETS * SERIES))" "$INTERVAL" "$DURATION"
printf 'cpu with rules:    %.2f s (%s)\n' "$(echo "$w / $TCK" | bc -l)" "${with#* }"
printf 'cpu without rules: %.2f s\n' "$(echo "$wo / $TCK" | bc -l)"
printf 'rule evaluation cpu: %.2f s\n' "$(echo "($w - $wo) / $TCK" | bc -l)"
