#!/usr/bin/env bash
# PromQL latency and memory over HTTP, side by side with Prometheus, on the same day of historic data.
#
# Generates OpenMetrics input (a counter family `x`: SERIES series `x_total{instance="iN",job="bench"}`, and a
# classic histogram family `h`: HSETS label sets × 11 buckets + _sum + _count) with SAMPLES samples per series,
# STEP seconds apart, ending about an hour before now; turns it into blocks with Prometheus's
# `promtool tsdb create-blocks-from openmetrics`; copies the blocks once per server; then starts each server in
# turn on loopback (scraping nothing), waits for /-/ready and SETTLE seconds, and sends every query REPS times as
# an instant query at the end of the data and as a range query over the whole data with a 60 s step. Reports
# the wall time of each request (curl's time_total), the server's CPU time, and memory from /proc/PID/status:
# VmHWM since start (before the queries) and the peak of each query's repetitions (VmHWM reset with
# `echo 5 > /proc/PID/clear_refs` before them). Finally compares the results of the two servers.
#
# Usage: benches/query-bench.sh
# Environment (defaults in brackets):
#   PROMETHEUS_BIN [/usr/bin/prometheus]  PROMETHIUM_BIN [target/release/promethium]  PROMTOOL_BIN [promtool]
#   SERIES [2000]  HSETS [100]  SAMPLES [5760]  STEP [15]  REPS [10]  SETTLE [10]  RANGE_STEP [60]
#   BLOCK_DURATION [24h]  promtool's --max-block-duration: 24h gives 18h-aligned blocks (what Prometheus's own
#                   compactor makes of a day), so neither server has blocks to compact while measured; `2h`
#                   gives promtool's default 2h blocks, which Prometheus compacts in the background after start.
#   EVAL_OFFSET [7] seconds between the sample grid and the evaluation times (see below).
#   RESTART [0]     1 starts a fresh server process (and settles) for every query × kind, so that each peak RSS
#                   is that query's own rather than on top of what earlier queries left allocated.
#   KEEP_WORK [0]   1 keeps the work directory (blocks, data dirs, responses, logs; the input file is removed).
set -euo pipefail

PROMETHEUS_BIN="${PROMETHEUS_BIN:-/usr/bin/prometheus}"
PROMETHIUM_BIN="${PROMETHIUM_BIN:-target/release/promethium}"
PROMTOOL_BIN="${PROMTOOL_BIN:-promtool}"
SERIES="${SERIES:-2000}"; HSETS="${HSETS:-100}"; SAMPLES="${SAMPLES:-5760}"; STEP="${STEP:-15}"
REPS="${REPS:-10}"; RESTART="${RESTART:-0}"; SETTLE="${SETTLE:-10}"; RANGE_STEP="${RANGE_STEP:-60}"; BLOCK_DURATION="${BLOCK_DURATION:-24h}"
PORTS=(29610 29611)
for b in "$PROMETHEUS_BIN" "$PROMETHIUM_BIN"; do [ -x "$b" ] || { echo "not executable: $b" >&2; exit 2; }; done
command -v "$PROMTOOL_BIN" >/dev/null || { echo "promtool not found: $PROMTOOL_BIN" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/query-bench.XXXXXX")"
SPID=""
cleanup() {
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

QUERIES=(
  'sum(rate(x_total[5m]))'
  'histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))'
)

# Last sample an hour before now, on the STEP grid; the first SAMPLES-1 steps earlier.
END=$(( ($(date +%s) - 3600) / STEP * STEP ))
START=$(( END - (SAMPLES - 1) * STEP ))
# Evaluation times sit EVAL_OFFSET seconds after the sample grid: Prometheus 2.x selects ranges closed,
# [t-5m, t], Prometheus 3 (which we follow) left-open, (t-5m, t]; off the grid both select the same samples.
EVAL_OFFSET="${EVAL_OFFSET:-7}"
QEND=$(( END + EVAL_OFFSET )); QSTART=$(( START + EVAL_OFFSET ))
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: $(date -u -d @"$START" +%FT%TZ) .. $(date -u -d @"$END" +%FT%TZ), $SAMPLES samples/series every ${STEP}s"

# ---- 1. OpenMetrics input -------------------------------------------------------------------------------------
t0=$(date +%s.%N)
python3 - "$WORK/input.om" "$SERIES" "$HSETS" "$SAMPLES" "$STEP" "$START" <<'PY'
import random, sys
path, series, hsets, samples, step, start = sys.argv[1], *map(int, sys.argv[2:])
rnd = random.Random(42)
ts = [start + i * step for i in range(samples)]
with open(path, "w", buffering=1 << 22) as f:
    # Counter family x: each series grows by 0..(rate) per step, about one series in four resets once in the day.
    f.write("# TYPE x counter\n# HELP x Bench counter.\n")
    for s in range(series):
        name = 'x_total{instance="i%d",job="bench"} ' % s
        rate = rnd.randint(1, 200)
        reset_at = rnd.randrange(samples) if rnd.random() < 0.25 else -1
        v = rnd.randint(0, 1_000_000)
        out = []
        for i, t in enumerate(ts):
            if i == reset_at:
                v = 0
            v += rnd.randint(0, rate)
            out.append("%s%d %d\n" % (name, v, t))
        f.write("".join(out))
    # Classic histogram family h: 10 finite buckets + "+Inf"; observations drawn from a per-set lognormal-ish shape.
    les = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "+Inf"]
    bounds = [float(l) for l in les[:-1]]
    f.write("# TYPE h histogram\n# HELP h Bench histogram.\n")
    for s in range(hsets):
        lab = 'instance="i%d",job="bench"' % s
        bucket_names = ['h_bucket{%s,le="%s"} ' % (lab, le) for le in les]
        sum_name, count_name = "h_sum{%s} " % lab, "h_count{%s} " % lab
        scale = rnd.uniform(0.02, 0.6)           # typical observation of this set, seconds
        per_step = rnd.randint(5, 60)            # observations per step
        reset_at = rnd.randrange(samples) if rnd.random() < 0.25 else -1
        # A pool of per-step increments (bucket counts, sum, count), each the sum of 0..2*per_step draws.
        pool = []
        for _ in range(256):
            inc, tot = [0] * len(les), 0.0
            n = rnd.randint(0, 2 * per_step)
            for _ in range(n):
                o = scale * rnd.lognormvariate(0, 0.8)
                inc[next((j for j, b in enumerate(bounds) if o <= b), len(bounds))] += 1
                tot += o
            pool.append((inc, tot, n))
        cum = [0] * len(les)                     # non-cumulative counts per bucket
        total, count = 0.0, 0
        out = []
        for i, t in enumerate(ts):
            if i == reset_at:
                cum = [0] * len(les); total, count = 0.0, 0
            inc, tot, n = pool[rnd.randrange(256)]
            for j in range(len(les)):
                cum[j] += inc[j]
            total += tot
            count += n
            acc = 0
            for j, bn in enumerate(bucket_names):
                acc += cum[j]
                out.append("%s%d %d\n" % (bn, acc, t))
            out.append("%s%.6f %d\n" % (sum_name, total, t))
            out.append("%s%d %d\n" % (count_name, count, t))
        f.write("".join(out))
    f.write("# EOF\n")
PY
t1=$(date +%s.%N)
NSERIES=$(( SERIES + HSETS * 13 )); NSAMPLES=$(( NSERIES * SAMPLES ))
printf 'input: %s series, %s samples, %s bytes of OpenMetrics, generated in %.1f s\n' \
  "$NSERIES" "$NSAMPLES" "$(stat -c %s "$WORK/input.om")" "$(echo "$t1 - $t0" | bc -l)"

# ---- 2. Blocks ------------------------------------------------------------------------------------------------
mkdir -p "$WORK/blocks"
t0=$(date +%s.%N)
"$PROMTOOL_BIN" tsdb create-blocks-from openmetrics --max-block-duration="$BLOCK_DURATION" \
  "$WORK/input.om" "$WORK/blocks" > "$WORK/promtool.log" 2>&1 || { cat "$WORK/promtool.log" >&2; exit 1; }
t1=$(date +%s.%N)
rm -f "$WORK/input.om"
printf 'blocks: %s blocks, %s bytes (%s chunk bytes), promtool took %.1f s\n' \
  "$(find "$WORK/blocks" -name meta.json | wc -l)" "$(du -sb "$WORK/blocks" | cut -f1)" \
  "$(find "$WORK/blocks" -path '*/chunks/*' -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')" \
  "$(echo "$t1 - $t0" | bc -l)"
cp -a "$WORK/blocks" "$WORK/data-prometheus"
cp -a "$WORK/blocks" "$WORK/data-promethium"
printf 'global: {scrape_interval: 1h, evaluation_interval: 1h}\n' > "$WORK/prom.yml"

# ---- 3. Servers, one at a time --------------------------------------------------------------------------------
status() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }        # kB
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }                          # clock ticks
TCK=$(getconf CLK_TCK)
: > "$WORK/times.tsv"; : > "$WORK/mem.tsv"
start_server() { # $1 = name, $2 = binary, $3 = port
  local name="$1" bin="$2" port="$3" url="http://127.0.0.1:$3"
  "$bin" --config.file="$WORK/prom.yml" --storage.tsdb.path="$WORK/data-$name" \
    --web.listen-address="127.0.0.1:$port" >> "$WORK/$name.log" 2>&1 &
  SPID=$!
  local t0; t0=$(date +%s.%N)
  for _ in $(seq 1 600); do
    curl -sf "$url/-/ready" >/dev/null 2>&1 && break
    kill -0 "$SPID" 2>/dev/null || { echo "$name exited:" >&2; tail -20 "$WORK/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  curl -sf "$url/-/ready" >/dev/null || { echo "$name not ready after 60 s" >&2; exit 1; }
  printf '%s: ready in %.2f s (pid %s), settling %s s\n' "$name" "$(echo "$(date +%s.%N) - $t0" | bc -l)" "$SPID" "$SETTLE"
  sleep "$SETTLE"
  printf '%s\tstartup\t-\t%s\t%s\t%s\n' "$name" "$(status $SPID VmHWM)" "$(status $SPID VmRSS)" "$(cpu $SPID)" >> "$WORK/mem.tsv"
}
stop_server() { # $1 = name, $2 = port
  printf '%s\tend\t-\t%s\t%s\t%s\n' "$1" "$(status $SPID VmHWM)" "$(status $SPID VmRSS)" "$(cpu $SPID)" >> "$WORK/mem.tsv"
  if [ "$1" = prometheus ]; then
    echo "prometheus: $(curl -s "http://127.0.0.1:$2/metrics" \
      | grep -E '^prometheus_tsdb_compactions_total|^prometheus_tsdb_blocks_loaded' | tr '\n' ' ')"
  fi
  kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=""
}
run_server() { # $1 = name, $2 = binary, $3 = port
  local name="$1" bin="$2" port="$3" url="http://127.0.0.1:$3"
  [ "$RESTART" = 1 ] || start_server "$name" "$bin" "$port"
  local qi=0 q kind
  for q in "${QUERIES[@]}"; do
    for kind in instant range; do
      [ "$RESTART" = 1 ] && start_server "$name" "$bin" "$port"
      local args=(--data-urlencode "query=$q")
      if [ "$kind" = instant ]; then args+=(--data-urlencode "time=$QEND"); ep=query
      else args+=(--data-urlencode "start=$QSTART" --data-urlencode "end=$QEND" --data-urlencode "step=$RANGE_STEP"); ep=query_range; fi
      echo 5 > "/proc/$SPID/clear_refs"                      # reset VmHWM to the current RSS
      local rss0 c0; rss0=$(status $SPID VmRSS); c0=$(cpu $SPID)
      for r in $(seq 1 "$REPS"); do
        local w; w=$(curl -s -o "$WORK/resp-$name-$qi-$kind.json" -w '%{http_code} %{time_total}' "${args[@]}" "$url/api/v1/$ep")
        [ "${w%% *}" = 200 ] || echo "$name: HTTP ${w%% *} for $kind $q: $(head -c 300 "$WORK/resp-$name-$qi-$kind.json")" >&2
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$qi" "$kind" "$r" "${w#* }" >> "$WORK/times.tsv"
      done
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$qi" "$kind" "$rss0" "$(status $SPID VmHWM)" "$(status $SPID VmRSS)" \
        "$(( $(cpu $SPID) - c0 ))" >> "$WORK/mem.tsv"
      [ "$RESTART" = 1 ] && stop_server "$name" "$port"
    done
    qi=$((qi + 1))
  done
  [ "$RESTART" = 1 ] || stop_server "$name" "$port"
  echo "$name: $(find "$WORK/data-$name" -name meta.json | wc -l) blocks in its data dir after the run"
  echo "load average after $name: $(cut -d' ' -f1-3 /proc/loadavg)"
}
run_server prometheus "$PROMETHEUS_BIN" "${PORTS[0]}"
run_server promethium "$PROMETHIUM_BIN" "${PORTS[1]}"

# ---- 4. Report ------------------------------------------------------------------------------------------------
python3 - "$WORK" "$TCK" "$REPS" "$RANGE_STEP" "$START" "$RESTART" "${QUERIES[@]}" <<'PY'
import json, math, statistics, sys
work, tck, reps, rstep, queries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[7:]
data_start, restart = int(sys.argv[5]), sys.argv[6] == "1"
times, mem, start = {}, {}, {}
for line in open(f"{work}/times.tsv"):
    name, qi, kind, _, t = line.split("\t")
    times.setdefault((name, int(qi), kind), []).append(float(t))
for line in open(f"{work}/mem.tsv"):
    f = line.rstrip("\n").split("\t")
    if f[1] in ("startup", "end"):
        start[(f[0], f[1])] = (int(f[3]), int(f[4]), int(f[5]))
    else:
        mem[(f[0], int(f[1]), f[2])] = tuple(int(x) for x in f[3:])
MiB = lambda kb: kb / 1024

def norm(path):
    try:
        d = json.load(open(path))
    except Exception as e:
        return None, f"unreadable ({e})"
    if d.get("status") != "success":
        return None, f"status {d.get('status')}: {d.get('error')}"
    data = d["data"]
    res = data["result"]
    if data["resultType"] in ("vector", "scalar"):
        res = res if isinstance(res, list) else [{"metric": {}, "value": res}]
        rows = [(tuple(sorted(s["metric"].items())), [s["value"]]) for s in res]
    else:
        rows = [(tuple(sorted(s["metric"].items())), s.get("values", [])) for s in res]
    return sorted(rows), None

def close(a, b):
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))

def compare(qi, kind):
    pa, pb = (f"{work}/resp-{n}-{qi}-{kind}.json" for n in ("prometheus", "promethium"))
    (ra, ea), (rb, eb) = norm(pa), norm(pb)
    if ea or eb:
        return f"cannot compare: prometheus {ea or 'ok'}, promethium {eb or 'ok'}"
    la, lb = [m for m, _ in ra], [m for m, _ in rb]
    if la != lb:
        return f"different series: {len(la)} vs {len(lb)}"
    # Points whose 5m window reaches before the first sample: there rate() extrapolates towards the start of
    # the series, which Prometheus changed after 2.42 (prometheus/prometheus#13725: the half-interval limit is
    # applied before the zero-point limit); we follow the newer rule.
    npts, bad, bad_start, first = 0, 0, 0, None
    for (m, va), (_, vb) in zip(ra, rb):
        ta, tb = {float(t): v for t, v in va}, {float(t): v for t, v in vb}
        if set(ta) != set(tb):
            bad += len(set(ta) ^ set(tb))
            first = first or f"{dict(m)}: timestamps differ ({len(ta)} vs {len(tb)} points)"
        for t in sorted(set(ta) & set(tb)):
            npts += 1
            if not close(ta[t], tb[t]):
                bad += 1
                bad_start += t - 300 < data_start
                first = first or f"{dict(m)} at {t:.3f}: {ta[t]} vs {tb[t]}"
    if bad and bad == bad_start:
        return (f"differ at the data's start only: {bad} of {npts} points, all with a 5m window reaching before "
                f"the first sample (rate extrapolation, see script); first: {first}")
    if bad:
        return f"MISMATCH: {bad} of {npts} points differ ({bad_start} at the data's start), first: {first}"
    return f"same: {len(ra)} series, {npts} points"

print()
print(f"latency per request over HTTP (curl time_total), {reps} requests each; range = whole day, step {rstep}s")
print("peak RSS = VmHWM after the requests, reset to the current RSS before them (→ shows that RSS); "
      "CPU = server utime+stime over them; " + ("a fresh server process for each row" if restart else "one server process for all rows"))
hdr = ("query", "kind", "prom median", "prom min", "ours median", "ours min", "ratio med", "ratio min",
       "prom peak RSS", "ours peak RSS", "ratio", "prom CPU", "ours CPU", "result")
rows = []
for qi, q in enumerate(queries):
    for kind in ("instant", "range"):
        tp, to = times[("prometheus", qi, kind)], times[("promethium", qi, kind)]
        mp, mo = mem[("prometheus", qi, kind)], mem[("promethium", qi, kind)]
        rows.append((q, kind,
                     "%.1f ms" % (1e3 * statistics.median(tp)), "%.1f ms" % (1e3 * min(tp)),
                     "%.1f ms" % (1e3 * statistics.median(to)), "%.1f ms" % (1e3 * min(to)),
                     "%.2fx" % (statistics.median(to) / statistics.median(tp)), "%.2fx" % (min(to) / min(tp)),
                     "%.1f MiB (%.1f→)" % (MiB(mp[1]), MiB(mp[0])), "%.1f MiB (%.1f→)" % (MiB(mo[1]), MiB(mo[0])),
                     "%.2fx" % (mo[1] / mp[1]),
                     "%.2f s" % (mp[3] / tck), "%.2f s" % (mo[3] / tck),
                     compare(qi, kind)))
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for r in rows:
    print("| `%s` | " % r[0] + " | ".join(r[1:]) + " |")
print()
if restart:
    print("(startup figures of the last of the fresh processes)")
print("| server | VmHWM at ready + settle | VmRSS then | highest peak of the query groups | VmRSS at the end |")
print("|---|---|---|---|---|")
for n in ("prometheus", "promethium"):
    s, e = start[(n, "startup")], start[(n, "end")]
    qpeak = max(v[1] for (m, _, _), v in mem.items() if m == n)
    print("| %s | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB |" % (n, MiB(s[0]), MiB(s[1]), MiB(qpeak), MiB(e[1])))
print()
print("all request times (s):")
for (n, qi, kind), ts in sorted(times.items()):
    print(f"  {n:10s} q{qi} {kind:7s} " + " ".join("%.4f" % t for t in ts))
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
