#!/usr/bin/env bash
# TSDB figures side by side with Prometheus: head memory per active series, bytes per sample in the blocks that
# compaction writes, and peak memory while compacting.
#
# Both servers run at the same time on loopback, scraping the same bench-targets (../shared/bench/targets) every
# INTERVAL with `--storage.tsdb.min-block-duration=BLOCK` and `--storage.tsdb.max-block-duration=BLOCK`, so that
# the head is compacted into a block once it spans 1.5 × BLOCK. The script samples each server's VmRSS and VmHWM
# (from /proc/PID/status) every second, and notes the head series and whether a block was written:
#   - head memory per active series: (VmRSS just before the first block appears − VmRSS after the first scrape)
#     / head series; both heads then hold the same series for the same time span; the same over RssAnon
#     (heap only, leaving out mapped files such as touched chunks_head/ pages) is reported beside it;
#   - peak memory while compacting: VmHWM is reset (`echo 5 > /proc/PID/clear_refs`) COMPACT_LEAD seconds
#     before the first block is expected and read once the block has appeared (the window holds ingestion too,
#     for both servers alike);
#   - bytes per sample: chunk-file bytes of each block over its `stats.numSamples` in meta.json, and the index
#     size, for the blocks both servers wrote for the same time ranges.
# After DURATION both are stopped with SIGTERM.
#
# Usage: benches/tsdb-bench.sh
# Environment (defaults in brackets):
#   PROMETHEUS_BIN [/usr/bin/prometheus]  PROMETHIUM_BIN [target/release/promethium]
#   BENCH_TARGETS_BIN [/tmp/bench-targets-target/release/bench-targets]
#   TARGETS [10]  SERIES [2000] per target  INTERVAL [1s]  BLOCK [5m]  DURATION [900] seconds  COMPACT_LEAD [60]
#   KEEP_WORK [0]  1 keeps the work directory.
set -euo pipefail

PROMETHEUS_BIN="${PROMETHEUS_BIN:-/usr/bin/prometheus}"
PROMETHIUM_BIN="${PROMETHIUM_BIN:-target/release/promethium}"
BENCH_TARGETS_BIN="${BENCH_TARGETS_BIN:-/tmp/bench-targets-target/release/bench-targets}"
TARGETS="${TARGETS:-10}"; SERIES="${SERIES:-2000}"; INTERVAL="${INTERVAL:-1s}"; BLOCK="${BLOCK:-5m}"
DURATION="${DURATION:-900}"; COMPACT_LEAD="${COMPACT_LEAD:-60}"
for b in "$PROMETHEUS_BIN" "$PROMETHIUM_BIN" "$BENCH_TARGETS_BIN"; do
  [ -x "$b" ] || { echo "not executable: $b" >&2; exit 2; }
done
PROMETHIUM_BIN="$(cd "$(dirname "$PROMETHIUM_BIN")" && pwd)/$(basename "$PROMETHIUM_BIN")"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tsdb-bench.XXXXXX")"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$WORK"

BASE_PORT=29400
"$BENCH_TARGETS_BIN" --targets "$TARGETS" --series "$SERIES" --base-port "$BASE_PORT" --threads 1 \
  --max-runtime $((DURATION + 120)) > targets.log 2>&1 &
PIDS+=($!)
targets=""
for i in $(seq 0 $((TARGETS - 1))); do targets+="'127.0.0.1:$((BASE_PORT + i))',"; done
cat > config.yml <<EOF
global: {scrape_interval: $INTERVAL, scrape_timeout: 900ms}
scrape_configs:
  - job_name: bench
    static_configs: [{targets: [${targets%,}]}]
EOF
sleep 1

block_secs() { case "$1" in *m) echo $(( ${1%m} * 60 ));; *h) echo $(( ${1%h} * 3600 ));; *s) echo "${1%s}";; esac; }
BLOCK_S=$(block_secs "$BLOCK")

start() { # name bin port
  "$2" --config.file=config.yml --storage.tsdb.path="$1.data" --web.listen-address="127.0.0.1:$3" \
    --storage.tsdb.min-block-duration="$BLOCK" --storage.tsdb.max-block-duration="$BLOCK" > "$1.log" 2>&1 &
  echo $!
}
PROM_PID=$(start prometheus "$PROMETHEUS_BIN" 29490); PIDS+=("$PROM_PID")
OURS_PID=$(start promethium "$PROMETHIUM_BIN" 29491); PIDS+=("$OURS_PID")
T0=$(date +%s)
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
# From /metrics: neither server scrapes itself here.
head_series() { curl -s "127.0.0.1:$1/metrics" | awk '$1 == "prometheus_tsdb_head_series" { print $2 }'; }
blocks() { { find "$1.data" -maxdepth 2 -name meta.json 2>/dev/null || true; } | wc -l; }

declare -A rss0 anon0 anon_before rss_before series_before hwm_compact first_block_at reset_done
for n in prometheus promethium; do reset_done[$n]=0; first_block_at[$n]=0; done
pid_of() { if [ "$1" = prometheus ]; then echo "$PROM_PID"; else echo "$OURS_PID"; fi; }
port_of() { if [ "$1" = prometheus ]; then echo 29490; else echo 29491; fi; }
# Prometheus compacts once the head spans 1.5 blocks, at the next of its once-a-minute checks.
EXPECT=$(( BLOCK_S * 3 / 2 ))
echo "t,server,vmrss_kib,vmhwm_kib,rssanon_kib,rssfile_kib,blocks" > samples.csv
while true; do
  now=$(date +%s); el=$((now - T0))
  [ "$el" -ge "$DURATION" ] && break
  for n in prometheus promethium; do
    p=$(pid_of "$n"); kill -0 "$p" 2>/dev/null || { echo "$n died" >&2; exit 1; }
    r=$(kib "$p" VmRSS); h=$(kib "$p" VmHWM); b=$(blocks "$n")
    ra=$(kib "$p" RssAnon); rf=$(kib "$p" RssFile)
    echo "$el,$n,$r,$h,$ra,$rf,$b" >> samples.csv
    if [ "$el" -eq 10 ] && [ -z "${rss0[$n]:-}" ]; then rss0[$n]=$r; anon0[$n]=$ra; fi
    if [ "${first_block_at[$n]}" = 0 ]; then
      if [ "$b" -gt 0 ]; then
        first_block_at[$n]=$el
        hwm_compact[$n]=$h
      else
        rss_before[$n]=$r; anon_before[$n]=$ra
        if [ "$el" -ge $((EXPECT - COMPACT_LEAD)) ] && [ "${reset_done[$n]}" = 0 ]; then
          series_before[$n]=$(head_series "$(port_of "$n")")
          echo 5 > "/proc/$p/clear_refs"; reset_done[$n]=1
        fi
      fi
    fi
  done
  sleep 1
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in prometheus promethium; do
  p=$(pid_of "$n")
  echo "$n: final VmHWM $(( $(kib "$p" VmHWM) / 1024 )) MiB, head series $(head_series "$(port_of "$n")")"
  kill -TERM "$p"
done
wait "$PROM_PID" "$OURS_PID" 2>/dev/null || true

echo
echo "| figure | Prometheus | Promethium | ratio |"
echo "|---|---|---|---|"
row() { # label prom ours unit
  python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'| {sys.argv[3]} | {a:,.2f} {sys.argv[4]} | {b:,.2f} {sys.argv[4]} | {b/a if a else float(\"nan\"):.2f}x |')" "$2" "$3" "$1" "$4"
}
for n in prometheus promethium; do
  [ "${first_block_at[$n]}" != 0 ] || { echo "$n wrote no block in ${DURATION}s" >&2; exit 1; }
done
row "first block written after" "${first_block_at[prometheus]}" "${first_block_at[promethium]}" s
row "VmRSS after 10 s" "$(( rss0[prometheus] / 1024 ))" "$(( rss0[promethium] / 1024 ))" MiB
row "VmRSS just before the first block" "$(( rss_before[prometheus] / 1024 ))" "$(( rss_before[promethium] / 1024 ))" MiB
row "head series then" "${series_before[prometheus]}" "${series_before[promethium]}" ""
per() { python3 -c "import sys; print((int(sys.argv[1]) - int(sys.argv[2])) * 1024 / float(sys.argv[3]))" "$@"; }
row "head memory per active series (RSS growth / series)" \
  "$(per "${rss_before[prometheus]}" "${rss0[prometheus]}" "${series_before[prometheus]}")" \
  "$(per "${rss_before[promethium]}" "${rss0[promethium]}" "${series_before[promethium]}")" bytes
row "anonymous memory (RssAnon) growth per active series" \
  "$(per "${anon_before[prometheus]}" "${anon0[prometheus]}" "${series_before[prometheus]}")" \
  "$(per "${anon_before[promethium]}" "${anon0[promethium]}" "${series_before[promethium]}")" bytes
row "peak RSS from ${COMPACT_LEAD}s before the first block until it appeared" \
  "$(( hwm_compact[prometheus] / 1024 ))" "$(( hwm_compact[promethium] / 1024 ))" MiB

echo
echo "blocks (same time ranges in both):"
python3 - prometheus.data promethium.data <<'PY'
import json, os, sys
def blocks(d):
    out = {}
    for b in sorted(os.listdir(d)):
        m = os.path.join(d, b, "meta.json")
        if not os.path.exists(m):
            continue
        meta = json.load(open(m))
        cdir = os.path.join(d, b, "chunks")
        chunk_bytes = sum(os.path.getsize(os.path.join(cdir, f)) for f in os.listdir(cdir))
        # Keyed by the block's end: its first sample (minTime) depends on each server's scrape times.
        out[meta["maxTime"]] = (meta["stats"]["numSamples"], meta["stats"]["numSeries"],
                                                  chunk_bytes, os.path.getsize(os.path.join(d, b, "index")))
    return out
p, o = blocks(sys.argv[1]), blocks(sys.argv[2])
print("| block ending at (maxTime) | samples P / ours | series P / ours | chunk bytes per sample P / ours | ratio | index bytes P / ours |")
print("|---|---|---|---|---|---|")
tp = to = sp = so = 0
for k in sorted(set(p) & set(o)):
    (ps, pser, pc, pi), (os_, oser, oc, oi) = p[k], o[k]
    print(f"| {k} | {ps:,} / {os_:,} | {pser:,} / {oser:,} | {pc/ps:.3f} / {oc/os_:.3f} | {(oc/os_)/(pc/ps):.2f}x | {pi:,} / {oi:,} |")
    tp += pc; to += oc; sp += ps; so += os_
if sp and so:
    print(f"| all common blocks | {sp:,} / {so:,} | | {tp/sp:.3f} / {to/so:.3f} | {(to/so)/(tp/sp):.2f}x | |")
only = sorted(set(p) ^ set(o))
if only:
    print("blocks in one directory only:", only)
PY
