#!/usr/bin/env bash
# WAL replay (restart) time side by side with Prometheus, for the same ingest.
#
# Each server in turn scrapes ../shared/reliability/target.py (N gauges `m{i="k"}` every second) for SECS seconds
# with 10 MB WAL segments and is stopped with SIGTERM, which leaves its WAL (and, for Prometheus, nothing else:
# a head this young is not compacted). Then, REPS times and alternating the servers, a fresh copy of each data
# directory is started with an empty configuration and timed from exec to the first 200 of /-/ready; the
# samples of series m{i="0"} over the last hour and the peak RSS of the restarted process are printed beside it.
#
# With SNAPSHOT=1 Promethium ingests with --enable-feature=memory-snapshot-on-shutdown, so its SIGTERM also
# writes a memory snapshot, and each rep also restarts a copy with the feature on (loading the snapshot, then the
# WAL after it); the plain Promethium restart of the same directory still replays the whole WAL.
#
# Usage: benches/replay-bench.sh
# Environment (defaults in brackets):
#   PROMETHEUS_BIN [/usr/bin/prometheus]  PROMETHIUM_BIN [target/release/promethium]
#   N [100000]  SECS [90]  REPS [3]  SNAPSHOT [0]  KEEP_WORK [0]
#   PORT [29380] (the target listens there, the servers on the next two ports)
set -euo pipefail

PROMETHEUS_BIN="${PROMETHEUS_BIN:-/usr/bin/prometheus}"
PROMETHIUM_BIN="${PROMETHIUM_BIN:-target/release/promethium}"
N="${N:-100000}"; SECS="${SECS:-90}"; REPS="${REPS:-3}"; SNAPSHOT="${SNAPSHOT:-0}"
PORT="${PORT:-29380}"; TPORT=$PORT
SNAP_FLAG=()
[ "$SNAPSHOT" = 1 ] && SNAP_FLAG=(--enable-feature=memory-snapshot-on-shutdown)
HERE="$(cd "$(dirname "$0")" && pwd)"
TARGET_PY="$HERE/../../shared/reliability/target.py"
[ -f "$TARGET_PY" ] || { echo "not found: $TARGET_PY" >&2; exit 2; }
for b in "$PROMETHEUS_BIN" "$PROMETHIUM_BIN"; do [ -x "$b" ] || { echo "not executable: $b" >&2; exit 2; }; done
PROMETHIUM_BIN="$(cd "$(dirname "$PROMETHIUM_BIN")" && pwd)/$(basename "$PROMETHIUM_BIN")"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/replay-bench.XXXXXX")"
PIDS=()
cleanup() {
  # The target may be stopped (SIGSTOP between ingests): continue it so that it sees the SIGTERM.
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$WORK"
cat > scrape.yml <<EOF
global: {scrape_interval: 1s, scrape_timeout: 900ms}
scrape_configs:
  - job_name: t
    static_configs: [{targets: ['127.0.0.1:$TPORT']}]
EOF
: > empty.yml

python3 "$TARGET_PY" "$TPORT" good "$N" & TPID=$!
PIDS+=("$TPID")
sleep 1
# Another run of this script holds the ports: stop rather than measure against its target.
kill -0 "$TPID" 2>/dev/null || { echo "the target could not start (port $TPORT in use?)" >&2; exit 2; }
ingest() { # name bin [flags…]
  local name=$1 bin=$2; shift 2
  "$bin" "$@" --config.file=scrape.yml --storage.tsdb.path="$name.base" --web.listen-address=127.0.0.1:$((PORT + 1)) \
    --storage.tsdb.wal-segment-size=10MB > "$name.ingest.log" 2>&1 &
  local p=$!
  kill -CONT "$TPID"
  sleep "$SECS"
  kill -STOP "$TPID"; sleep 1.5
  kill -TERM "$p"; wait "$p" || true
  echo "$name: WAL $(du -sb "$name.base/wal" | cut -f1) bytes in $(find "$name.base/wal" -maxdepth 1 -name '0*' | wc -l) segments"
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
ingest prometheus "$PROMETHEUS_BIN"
ingest promethium "$PROMETHIUM_BIN" "${SNAP_FLAG[@]}"
if [ "$SNAPSHOT" = 1 ]; then
  ls -d promethium.base/chunk_snapshot.* > /dev/null || { echo "no snapshot written" >&2; exit 1; }
  echo "promethium: snapshot $(du -sb promethium.base/chunk_snapshot.* | cut -f1) bytes"
  ln -s promethium.base promethium-snapshot.base
fi

restart() { # name bin [flags…]
  local name=$1 bin=$2; shift 2
  rm -rf "$name.run"; cp -aL "$name.base" "$name.run"; sync
  set -- "$name" "$bin" "$@"
  local t0 p secs n hwm
  t0=$(date +%s.%N)
  "$bin" "${@:3}" --config.file=empty.yml --storage.tsdb.path="$1.run" --web.listen-address=127.0.0.1:$((PORT + 2)) \
    > "$1.restart.log" 2>&1 &
  p=$!
  until curl -sf 127.0.0.1:$((PORT + 2))/-/ready > /dev/null; do
    kill -0 "$p" 2>/dev/null || { echo "$1 exited while starting" >&2; exit 1; }
    sleep 0.02
  done
  secs=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$(date +%s.%N)")
  n=$(curl -s --data-urlencode 'query=count_over_time(m{i="0"}[1h])' 127.0.0.1:$((PORT + 2))/api/v1/query |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
  hwm=$(awk '$1 == "VmHWM:" { printf "%.1f", $2 / 1024 }' "/proc/$p/status")
  kill -TERM "$p"; wait "$p" || true
  echo "$1 $secs $n $hwm"
}
ratio() { python3 -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.2f}x')" "$1" "$2"; }
if [ "$SNAPSHOT" = 1 ]; then
  echo "| rep | Prometheus: ready (s) | samples of m{i=\"0\"} | peak RSS (MiB) | Promethium, WAL replay: ready (s) | samples | peak RSS (MiB) | ratio | Promethium, snapshot: ready (s) | samples | peak RSS (MiB) | ratio |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
else
  echo "| rep | Prometheus: ready (s) | samples of m{i=\"0\"} | peak RSS (MiB) | Promethium: ready (s) | samples | peak RSS (MiB) | ratio |"
  echo "|---|---|---|---|---|---|---|---|"
fi
for r in $(seq 1 "$REPS"); do
  read -r _ ps pn ph <<< "$(restart prometheus "$PROMETHEUS_BIN")"
  read -r _ os on oh <<< "$(restart promethium "$PROMETHIUM_BIN")"
  row="| $r | $ps | $pn | $ph | $os | $on | $oh | $(ratio "$ps" "$os") |"
  if [ "$SNAPSHOT" = 1 ]; then
    read -r _ ss sn sh <<< "$(restart promethium-snapshot "$PROMETHIUM_BIN" "${SNAP_FLAG[@]}")"
    grep -q "Chunk snapshot loaded" promethium-snapshot.restart.log || { echo "the snapshot was not loaded" >&2; exit 1; }
    row="$row $ss | $sn | $sh | $(ratio "$ps" "$ss") |"
  fi
  echo "$row"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
