#!/usr/bin/env bash
# zipf-bench.sh - hit ratio under a budget, side by side: accel, nginx, Varnish and HAProxy, each
# with 40 MiB for its cache, loaded by wrk with keys drawn from Zipf(0.99) over 100,000 URLs of
# 4 KiB (about 400 MiB in all: ten times the budget), from cold, for 20 s each.
# hit ratio = 1 - origin requests during the run / requests answered. Also reports req/s, the
# server's resident memory (its processes summed) and two references: "ideal" = 1 - distinct paths
# the origin saw / requests answered, the hit ratio of a cache that never evicts (each URL fetched
# once: a run starts cold, so every distinct URL asked for reaches the origin at least once; read
# from the origin's /__stats, with a warning if it stopped tracking paths), and "ideal LRU", an
# exact LRU of LRU_OBJECTS objects (what the memory budget holds) on as many Zipf requests
# (bench/zipf-lru.py). "paths >1x" counts the paths the origin was asked for more than once
# (refetched after an eviction, or misses that were not coalesced).
# Prints one table and writes it to bench/results/zipf-<date>-<time>.txt, and the same numbers with
# each cache's peak resident memory (VmHWM of its processes, summed, from its start to the end of
# the run) as tab-separated values to zipf-<date>-<time>.tsv (read by compare.sh).
#
# Usage: bench/zipf-bench.sh           (from anywhere; build first: cmake -B build && cmake --build build -j2)
# Knobs (environment):
#   ACCEL_BIN=build/accel  ORIGIN_BIN=build/accel-origin
#   DURATION=20 (s per run)  ROUNDS=1 (each round restarts every cache cold)  WORKERS=1  CONNS=64
#   BUDGET_MIB=40  KEYS=100000  ZIPF_S=0.99  SEED=42  SIZE=4096  LRU_OBJECTS=8000
#   CACHES="accel nginx varnish haproxy" (and accel-old)
#   ACCEL_OLD=/path/to/accel (an older build: runs as accel-old after accel, same config)
#   PROXY_CPUS=1  LOAD_CPUS=0   (taskset lists: caches vs wrk + origin)
#   KEEP_TMP=1 keeps the generated configs and logs.
# Every server is started by this script on a fixed loopback port and stopped at exit;
# every wait and every wrk run is bounded in time.
set -uo pipefail

BENCH=zipf-bench
# shellcheck source=bench/cache-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cache-lib.sh"

DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-1}
CONNS=${CONNS:-64}
BUDGET_MIB=${BUDGET_MIB:-40}
KEYS=${KEYS:-100000}
ZIPF_S=${ZIPF_S:-0.99}
SEED=${SEED:-42}
SIZE=${SIZE:-4096}
LRU_OBJECTS=${LRU_OBJECTS:-8000}
read -r -a CACHES <<<"${CACHES:-accel nginx varnish haproxy}"
mapfile -t CACHES < <(with_accel_old "${CACHES[@]}")
for v in DURATION ROUNDS CONNS BUDGET_MIB KEYS SEED SIZE LRU_OBJECTS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive number"
done
for t in "${CACHES[@]}"; do
    [[ $t =~ ^(accel|accel-old|nginx|varnish|haproxy)$ ]] || die "CACHES takes accel, accel-old, nginx, varnish, haproxy (got '$t')"
done
command -v python3 >/dev/null || die "python3 not found: apt-get install python3"
bench_init

start_origin

REPORT="$RESULTS_DIR/zipf-$STAMP.txt"
RAW="$TMP/raw.txt"
: >"$RAW"
declare -A RPS=() P99=() HIT=() IDEAL=() MULTI=() RSS0=() RSS1=() DISK=() LRU=() ERRS=() SEEN=() REQS=() PEAK=() CPU=()

# The origin's counters since the last reset, from one /__stats:
# "requests untracked distinct_paths paths_requested_more_than_once" (empty if unreadable)
origin_stats() {
    curl -s -m 10 "http://127.0.0.1:$ORIGIN_PORT/__stats" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
p = d.get("paths", {})
print(d.get("requests", 0), d.get("untracked", 0), sum(1 for c in p.values() if c > 0),
      sum(1 for c in p.values() if c > 1))' 2>/dev/null
}

# Starts <t> cold, checks it answers a Zipf URL whole, runs wrk once, measures, stops it.
run_one() {
    local t=$1 r=$2 out rps p50 p99 errs reqs bytes seen hit rss0 rss1 peak disk lru k="$1"
    local untracked distinct multi ideal c0 c1 cpu
    if ! start_cache "$t" "$BUDGET_MIB"; then
        stop "$t"
        return 1
    fi
    out=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:${PORT[$t]}/zcheck?size=$SIZE&cc=max-age%3D3600")
    if [[ $out != "200 $SIZE" ]]; then
        NOTE[$t]="answers /zcheck with '$out' instead of '200 $SIZE'; left out"
        stop "$t"
        return 1
    fi
    sleep 1
    rss0=$(rss_kb "${PID[$t]}")
    origin_reset
    c0=$(cpu_ticks "${PID[$t]}")
    out=$(ZIPF_KEYS=$KEYS ZIPF_S=$ZIPF_S ZIPF_SEED=$SEED ZIPF_SIZE=$SIZE \
        timeout $((DURATION + 30)) "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
        -s "$ROOT/bench/zipf.lua" "http://127.0.0.1:${PORT[$t]}" 2>&1) || out=""
    c1=$(cpu_ticks "${PID[$t]}")
    read -r seen untracked distinct multi < <(origin_stats)
    if [[ -z ${seen:-} ]]; then # /__stats unreadable as JSON: the request count alone
        seen=$(origin_requests)
        distinct="" multi=""
        add_note "$t" "the origin's /__stats could not be parsed (round $r): no 'ideal'"
    elif ((untracked > 0)); then
        add_note "$t" "the origin stopped tracking paths ($untracked untracked requests, round $r): 'ideal' is too high"
    fi
    read -r rps p50 p99 errs reqs bytes < <(wrk_parse <<<"$out")
    if ! check_alive "$t"; then
        note "$t: ${NOTE[$t]}"
        return 1
    fi
    rss1=$(rss_kb "${PID[$t]}")
    peak=$(rss_peak_kb "${PID[$t]}")
    disk="-"
    [[ $t == nginx ]] && disk=$(du -sk "$TMP/nginx/cache" 2>/dev/null | awk '{printf "%.1f", $1 / 1024}')
    stop "$t"
    if [[ -z $out || $reqs == 0 ]]; then
        add_note "$t" "wrk failed or timed out (round $r)"
        return 1
    fi
    hit=$(awk -v s="${seen:-0}" -v n="$reqs" 'BEGIN {printf "%.3f", 1 - s / n}')
    cpu=$(cpu_per_1k "$c0" "$c1" "$reqs")
    CPU[$k]="${CPU[$k]:-} $cpu"
    ideal="?"
    [[ -n $distinct ]] && ideal=$(awk -v d="$distinct" -v n="$reqs" 'BEGIN {printf "%.3f", 1 - d / n}')
    lru=$(timeout 120 python3 "$ROOT/bench/zipf-lru.py" "$reqs" "$LRU_OBJECTS" "$KEYS" "$ZIPF_S" "$SEED")
    printf 'round %d  %-9s %10s req/s  p50 %8s ms  p99 %8s ms  cpu %s ms/1k  errors %s  requests %s  origin saw %s for %s distinct paths (%s more than once)  hit %s  ideal %s  ideal LRU %s  RSS %s -> %s KiB (peak %s)  disk %s MiB\n' \
        "$r" "$t" "$rps" "$p50" "$p99" "$cpu" "$errs" "$reqs" "${seen:-?}" "${distinct:-?}" "${multi:-?}" "$hit" "$ideal" \
        "${lru:-?}" "$rss0" "$rss1" "$peak" "$disk" |
        tee -a "$RAW" >&2
    RPS[$k]="${RPS[$k]:-} $rps"
    P99[$k]="${P99[$k]:-} $p99"
    HIT[$k]="${HIT[$k]:-} $hit"
    if [[ -n $distinct ]]; then
        IDEAL[$k]="${IDEAL[$k]:-} $ideal"
        MULTI[$k]="${MULTI[$k]:-} $multi"
    fi
    RSS0[$k]="${RSS0[$k]:-} $rss0"
    RSS1[$k]="${RSS1[$k]:-} $rss1"
    SEEN[$k]="${SEEN[$k]:-} ${seen:-0}"
    REQS[$k]="${REQS[$k]:-} $reqs"
    ((peak > ${PEAK[$k]:-0})) && PEAK[$k]=$peak
    LRU[$k]="${LRU[$k]:-} ${lru:-0}"
    [[ $disk != - ]] && DISK[$k]="${DISK[$k]:-} $disk"
    ERRS[$k]=$((${ERRS[$k]:-0} + errs))
    return 0
}

note "caches ${CACHES[*]}; $ROUNDS round(s) x ${DURATION}s each, every run from cold"
for ((r = 1; r <= ROUNDS; r++)); do
    for t in "${CACHES[@]}"; do
        run_one "$t" "$r"
        sleep 1
    done
done

mean3() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.3f", NF ? s / NF : 0 }' <<<"$1"; }
mean0() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.0f", NF ? s / NF : 0 }' <<<"$1"; }

{
    echo "accel zipf-bench: hit ratio under a memory budget, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "workload: GET /z<k>?size=$SIZE&cc=max-age%3D3600, k ~ Zipf(s=$ZIPF_S) over $KEYS keys (seed $SEED," \
        "bench/zipf.lua); wrk -t1 -c$CONNS -d${DURATION}s; each cache started cold; $ROUNDS round(s), means shown"
    echo "budget: $BUDGET_MIB MiB each (accel cache_memory; nginx max_size, on disk; Varnish -s malloc;" \
        "HAProxy total-max-size); workers/threads: $WORKERS (Varnish: thread_pools=1); CPU pinning: $PINNING"
    machine
    echo "$VERSIONS"
    echo
    printf '%-9s %10s %8s %10s %7s %7s %10s %10s %10s %11s %9s %7s\n' cache "req/s" "p99 ms" "cpu ms/1k" "hit" "ideal" \
        "ideal LRU" "paths >1x" "RSS MiB" "RSS start" "disk MiB" errors
    for t in "${CACHES[@]}"; do
        k=$t
        [[ -n ${RPS[$k]:-} ]] || continue
        printf '%-9s %10s %8s %10s %7s %7s %10s %10s %10s %11s %9s %7s\n' "$t" "$(mean "${RPS[$k]}")" "$(mean "${P99[$k]}")" \
            "$(mean_known "${CPU[$k]:-}")" "$(mean3 "${HIT[$k]}")" "$([[ -n ${IDEAL[$k]:-} ]] && mean3 "${IDEAL[$k]}" || echo -)" \
            "$(mean3 "${LRU[$k]}")" "$([[ -n ${MULTI[$k]:-} ]] && mean0 "${MULTI[$k]}" || echo -)" \
            "$(awk -v v="$(mean "${RSS1[$k]}")" 'BEGIN {printf "%.1f", v / 1024}')" \
            "$(awk -v v="$(mean "${RSS0[$k]}")" 'BEGIN {printf "%.1f", v / 1024}')" \
            "$([[ -n ${DISK[$k]:-} ]] && mean "${DISK[$k]}" || echo -)" "${ERRS[$k]}"
    done
    echo
    echo "'hit' = 1 - (origin requests during the run / requests answered), cold start included."
    echo "'cpu ms/1k' = the cache's CPU time (utime + stime of its processes over the run) per 1000 answers."
    echo "'ideal' = 1 - (distinct paths the origin saw / requests answered): a cache that never evicts, each URL"
    echo "fetched once (runs start cold, so each distinct URL asked for reaches the origin at least once)."
    echo "'paths >1x' = paths the origin was asked for more than once (refetched after eviction or expiry,"
    echo "or concurrent misses not coalesced); 0 if the cache reached 'ideal'."
    echo "'ideal LRU' = an exact LRU holding $LRU_OBJECTS objects, from cold, on as many requests drawn from the"
    echo "same distribution (bench/zipf-lru.py); ~0.70 in steady state. $((BUDGET_MIB * 1024 / (SIZE / 1024 > 0 ? SIZE / 1024 : 1))) bodies of $SIZE bytes fill $BUDGET_MIB MiB"
    echo "with no overhead at all; headers and bookkeeping leave a real cache fewer."
    echo "'RSS MiB' is the resident memory of the cache's processes (nginx master + workers, Varnish manager +"
    echo "child) after the run; 'RSS start' the same just after start. nginx keeps its cache in files"
    echo "('disk MiB' after the run, in the page cache rather than in its RSS) and enforces max_size lazily,"
    echo "from its cache manager process, so it may hold more than the budget for a while."
    for t in "${CACHES[@]}"; do
        [[ -n ${NOTE[$t]:-} ]] && echo "note: $t: ${NOTE[$t]}"
    done
    echo
    echo "runs:"
    cat "$RAW"
} | tee "$REPORT"

# The same rows, machine-readable: the columns every cache benchmark's .tsv starts with (means over
# the rounds; origin_reqs and requests per run; peak_rss_mib the highest VmHWM of the cache's
# processes, summed, from start to the end of a run), then this script's own; "-" where a field does
# not apply. disk_mib is nginx's cache directory after the run (its real budget: max_size is lazy).
TSV="${REPORT%.txt}.tsv"
{
    tsv scenario cache req_s p99_ms hit_ratio origin_reqs peak_rss_mib ideal ideal_lru paths_multi rss_after_mib \
        rss_start_mib disk_mib budget_mib errors requests rounds req_s_spread cpu_ms_per_1k
    for t in "${CACHES[@]}"; do
        k=$t
        [[ -n ${RPS[$k]:-} ]] || continue
        tsv zipf "$t" "$(mean "${RPS[$k]}")" "$(mean "${P99[$k]}")" "$(mean3 "${HIT[$k]}")" "$(mean "${SEEN[$k]}")" \
            "$(awk -v kb="${PEAK[$k]:-0}" 'BEGIN {if (kb > 0) printf "%.1f", kb / 1024; else print "-"}')" \
            "$([[ -n ${IDEAL[$k]:-} ]] && mean3 "${IDEAL[$k]}" || echo -)" "$(mean3 "${LRU[$k]}")" \
            "$([[ -n ${MULTI[$k]:-} ]] && mean0 "${MULTI[$k]}" || echo -)" \
            "$(awk -v v="$(mean "${RSS1[$k]}")" 'BEGIN {printf "%.1f", v / 1024}')" \
            "$(awk -v v="$(mean "${RSS0[$k]}")" 'BEGIN {printf "%.1f", v / 1024}')" \
            "$([[ -n ${DISK[$k]:-} ]] && mean "${DISK[$k]}" || echo -)" "$BUDGET_MIB" "${ERRS[$k]}" \
            "$(mean "${REQS[$k]}")" "$(wc -w <<<"${RPS[$k]}")" "$(spread "${RPS[$k]}")" "$(mean_known "${CPU[$k]:-}")"
    done
} >"$TSV"
note "written to ${REPORT#"$ROOT"/} (and ${TSV#"$ROOT"/})"
