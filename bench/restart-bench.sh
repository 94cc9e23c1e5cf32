#!/usr/bin/env bash
# restart-bench.sh - the warm restart: what accel's LMDB disk tier (cache_disk) keeps across a
# restart, against accel with memory alone. For each configuration, "accel+disk" (cache_disk
# DISK_MIB) and "accel mem" (no disk tier), both with a memory budget that holds every object:
#
#   1. fill: start accel, request each of KEYS URLs /z<k>?size=SIZE&cc=max-age%3D3600 once (curl,
#      one keep-alive connection, in order), so that all are cached; with the disk tier, wait
#      until the LMDB file has not changed for 1 s (the writer is idle); stop accel with SIGTERM.
#   2. restart accel with the same config and time, from its exec: the port accepting, and the
#      first HIT on a filled URL (/z<KEYS>, the last one written), polled with
#      "Cache-Control: only-if-cached" so that the probe never reaches the origin nor fills the cache.
#   3. at once, Zipf(ZIPF_S) load over the same KEYS URLs (bench/zipf.lua, wrk -t1 -cCONNS) for
#      DURATION s: a first wrk run of FIRST_S s, then one of DURATION - FIRST_S s (another seed, so
#      it does not replay the first run's keys). hit ratio = 1 - origin requests / requests answered.
#
# The origin's counter is reset (/__reset) before each phase. Memory-only, the ideal is a cold
# cache (each distinct key one origin request); with the disk tier, 0 origin requests.
# Prints one table and writes it to bench/results/restart-<date>-<time>.txt.
#
# Usage: bench/restart-bench.sh           (from anywhere; build first: cmake -B build && cmake --build build -j2)
#        DURATION=20 bench/restart-bench.sh   (a quicker run: about 1 minute; the defaults take about 2.5)
# Knobs (environment):
#   ACCEL_BIN=build/accel  ORIGIN_BIN=build/accel-origin  ACCEL_SRC (tree the binary was built from)
#   KEYS=20000  SIZE=4096 (bytes)  BUDGET_MIB=256 (cache_memory; holds all KEYS)  DISK_MIB=512
#   DURATION=60 (s of Zipf load after the restart)  FIRST_S=10 (the first wrk run; 0: one run only)
#   CONNS=64  ZIPF_S=0.99  SEED=42  WORKERS=1  CONFIGS="disk mem"
#   FLUSH_WAIT_S=30 (longest wait for the disk writer to go idle)  HIT_WAIT_S=3 (longest wait for
#   the first hit after the restart)  STOP_WAIT_S=30 (SIGTERM, then SIGKILL)
#   PROXY_CPUS=1  LOAD_CPUS=0   (taskset lists: accel vs curl, wrk and the origin)
#   KEEP_TMP=1 keeps the generated configs, logs and the LMDB file.
# Every server is started by this script on a fixed loopback port (accel 18080, origin 18090) and
# stopped at exit; every wait, every curl and every wrk run is bounded in time.
set -uo pipefail

BENCH=restart-bench
# shellcheck source=bench/cache-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cache-lib.sh"

KEYS=${KEYS:-20000}
SIZE=${SIZE:-4096}
BUDGET_MIB=${BUDGET_MIB:-256}
DISK_MIB=${DISK_MIB:-512}
DURATION=${DURATION:-60}
FIRST_S=${FIRST_S:-10}
CONNS=${CONNS:-64}
ZIPF_S=${ZIPF_S:-0.99}
SEED=${SEED:-42}
FLUSH_WAIT_S=${FLUSH_WAIT_S:-30}
HIT_WAIT_S=${HIT_WAIT_S:-3}
STOP_WAIT_S=${STOP_WAIT_S:-30}
WAIT_STEP_MS=2 # poll the restarted accel's port every 2 ms (cache-lib's default is 100 ms)
read -r -a CONFIGS <<<"${CONFIGS:-disk mem}"
for v in KEYS SIZE BUDGET_MIB DISK_MIB DURATION CONNS SEED FLUSH_WAIT_S HIT_WAIT_S STOP_WAIT_S; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive number"
done
[[ $FIRST_S =~ ^[0-9]+$ ]] || die "FIRST_S must be a number"
((FIRST_S == 0 || FIRST_S < DURATION)) || die "FIRST_S ($FIRST_S) must be below DURATION ($DURATION), or 0"
for c in "${CONFIGS[@]}"; do
    [[ $c =~ ^(disk|mem)$ ]] || die "CONFIGS takes disk, mem (got '$c')"
done
# ~1 KiB of head and bookkeeping per object on top of the body: below that, the budget may evict
need_mib=$((KEYS * (SIZE + 1024) / 1048576 + 1))
((need_mib <= BUDGET_MIB)) ||
    note "warning: BUDGET_MIB=$BUDGET_MIB may not hold $KEYS objects of $SIZE bytes (~$need_mib MiB): evictions blur the comparison"
bench_init
[[ -x $ACCEL_BIN ]] || die "$ACCEL_BIN not found: build first (cmake -B build && cmake --build build -j2)"

start_origin

REPORT="$RESULTS_DIR/restart-$STAMP.txt"
RAW="$TMP/raw.txt"
: >"$RAW"
DB="$TMP/accel-cache.mdb" # where cache-lib's start_accel puts the disk tier
SUFFIX="?size=$SIZE&cc=max-age%3D3600" # as bench/zipf.lua builds it: the same cache keys
PROBE="/z$KEYS$SUFFIX"
FILL_TIMEOUT_S=$((60 + KEYS / 100)) # the fill goes at ~3000 URLs/s; this allows 100/s
awk -v n="$KEYS" -v port="$ACCEL_PORT" -v sfx="$SUFFIX" 'BEGIN {
    for (k = 1; k <= n; k++) printf "url = \"http://127.0.0.1:%s/z%d%s\"\noutput = \"/dev/null\"\n", port, k, sfx }' \
    >"$TMP/fill.curl"
declare -A LABEL=([disk]="accel+disk" [mem]="accel mem")
declare -A PORT_MS=() HIT_MS=() HIT1=() HITALL=() RPS=() SEEN=()

tick() { NOW=$((${EPOCHREALTIME//[.,]/} / 1000)); } # NOW = ms since the epoch (bash 5: no fork)
ratio() { awk -v s="$1" -v n="$2" 'BEGIN {if (n > 0) printf "%.3f", 1 - s / n; else print "-"}'; }
origin_paths() { # distinct paths that reached the origin since the last reset
    curl -s -m 5 "http://127.0.0.1:$ORIGIN_PORT/__stats" | grep -o '"/z[0-9]*": ' | wc -l
}

# Waits until the LMDB file's size and mtime have not changed for 1 s (the disk writer idle),
# bounded by FLUSH_WAIT_S; prints the ms it took, or "timeout".
wait_flush() {
    local t0 last="" cur same=0 i
    tick
    t0=$NOW
    for ((i = 0; i < FLUSH_WAIT_S * 10; i++)); do
        cur=$(stat -c '%s %y' "$DB" 2>/dev/null)
        if [[ $cur == "$last" ]]; then
            same=$((same + 1))
            if ((same >= 10)); then
                tick
                echo $((NOW - t0))
                return 0
            fi
        else
            same=0
            last=$cur
        fi
        sleep 0.1
    done
    echo timeout
    return 1
}

# One Zipf wrk run: zipf_run <seconds> <seed> -> "requests rps origin_requests origin_paths errors"
zipf_run() {
    local d=$1 seed=$2 out rps p50 p99 errs reqs bytes seen paths
    origin_reset
    out=$(ZIPF_KEYS=$KEYS ZIPF_S=$ZIPF_S ZIPF_SEED=$seed ZIPF_SIZE=$SIZE \
        timeout $((d + 30)) "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${d}s" \
        -s "$ROOT/bench/zipf.lua" "http://127.0.0.1:$ACCEL_PORT" 2>&1) || out=""
    seen=$(origin_requests)
    paths=$(origin_paths)
    read -r rps p50 p99 errs reqs bytes < <(wrk_parse <<<"$out")
    echo "${reqs:-0} ${rps:-0} ${seen:-0} ${paths:-0} ${errs:-0}"
}

run_config() {
    local c=$1 t0 out filled fill_s fill_seen flush stop_ms stop_how file_mib port_ms hit_ms
    local probes=0 probe_seen ans rss
    local r1=0 s1=0 o1=0 p1=0 e1=0 r2 s2 o2 p2 e2 reqs seen hit1 hitall rps
    rm -f "$DB" "$DB"-* "$DB".* # a fresh store (and none at all for memory alone)
    if [[ $c == disk ]]; then
        ACCEL_DISK_MIB=$DISK_MIB
    else
        unset ACCEL_DISK_MIB
    fi

    # 1. fill
    if ! start_accel "$BUDGET_MIB"; then
        add_note "$c" "accel: ${NOTE[accel]}"
        stop accel
        return 1
    fi
    origin_reset
    tick
    t0=$NOW
    out=$(timeout "$FILL_TIMEOUT_S" "${PIN_LOAD[@]}" curl -s -m 10 -K "$TMP/fill.curl" -w '%{http_code}\n')
    tick
    fill_s=$(awk -v ms=$((NOW - t0)) 'BEGIN {printf "%.1f", ms / 1000}')
    filled=$(grep -c '^200$' <<<"$out")
    fill_seen=$(origin_requests)
    ((filled == KEYS)) || add_note "$c" "the fill got $filled answers 200 out of $KEYS"
    ((fill_seen == KEYS)) || add_note "$c" "the origin saw $fill_seen requests during the fill, not $KEYS"
    flush="-"
    [[ $c == disk ]] && { flush=$(wait_flush) || add_note "$c" "the disk file was still changing after ${FLUSH_WAIT_S}s"; }
    if ! check_alive accel; then
        add_note "$c" "${NOTE[accel]}"
        return 1
    fi
    tick
    t0=$NOW
    stop accel
    tick
    stop_ms=$((NOW - t0))
    stop_how="exit status $STOP_RC"
    ((STOP_RC == 137)) && stop_how="SIGKILLed after ${STOP_WAIT_S}s"
    ((STOP_RC == 0)) || add_note "$c" "accel did not stop cleanly after the fill: $stop_how"
    file_mib="-"
    [[ -f $DB ]] && file_mib=$(($(stat -c %s "$DB") / 1048576))

    # 2. restart: port, then the first hit
    origin_reset
    tick
    t0=$NOW
    if ! start_accel "$BUDGET_MIB"; then
        add_note "$c" "the restart: ${NOTE[accel]}"
        stop accel
        return 1
    fi
    tick
    port_ms=$((NOW - t0))
    hit_ms="none"
    while ((NOW - t0 < HIT_WAIT_S * 1000)); do
        probes=$((probes + 1))
        ans=$(curl -s -m 1 -D - -o /dev/null -H 'Cache-Control: only-if-cached' \
            "http://127.0.0.1:$ACCEL_PORT$PROBE" | tr -d '\r')
        tick
        if grep -qi '^x-cache: *HIT' <<<"$ans"; then
            hit_ms=$((NOW - t0))
            break
        fi
        sleep 0.002
        tick
    done
    probe_seen=$(origin_requests)
    ((${probe_seen:-0} == 0)) || add_note "$c" "the only-if-cached probe reached the origin ($probe_seen requests)"

    # 3. Zipf load, at once
    if ((FIRST_S > 0)); then
        read -r r1 s1 o1 p1 e1 < <(zipf_run "$FIRST_S" "$SEED")
        read -r r2 s2 o2 p2 e2 < <(zipf_run $((DURATION - FIRST_S)) $((SEED + 1)))
    else
        read -r r2 s2 o2 p2 e2 < <(zipf_run "$DURATION" "$SEED")
    fi
    if ! check_alive accel; then
        add_note "$c" "${NOTE[accel]}"
        return 1
    fi
    rss=$(awk -v kb="$(rss_kb "${PID[accel]}")" 'BEGIN {printf "%.1f", kb / 1024}')
    stop accel
    if ((r2 == 0 || (FIRST_S > 0 && r1 == 0))); then
        add_note "$c" "wrk failed or timed out"
        return 1
    fi
    reqs=$((r1 + r2))
    seen=$((o1 + o2))
    hit1="-"
    ((FIRST_S > 0)) && hit1=$(ratio "$o1" "$r1")
    hitall=$(ratio "$seen" "$reqs")
    # requests / the time wrk measured (each run: requests / its req/s)
    rps=$(awk -v r1="$r1" -v s1="$s1" -v r2="$r2" -v s2="$s2" 'BEGIN {
        t = (s1 > 0 ? r1 / s1 : 0) + (s2 > 0 ? r2 / s2 : 0); printf "%.0f", (t > 0 ? (r1 + r2) / t : 0) }')
    PORT_MS[$c]=$port_ms
    HIT_MS[$c]=$hit_ms
    HIT1[$c]=$hit1
    HITALL[$c]=$hitall
    RPS[$c]=$rps
    SEEN[$c]=$seen
    ((e1 + e2 == 0)) || add_note "$c" "wrk reported $((e1 + e2)) errors (socket errors or non-2xx)"
    {
        printf '%-10s fill: %s URLs in %s s, %s answers 200, origin saw %s; disk writer idle after %s ms;' \
            "${LABEL[$c]}" "$KEYS" "$fill_s" "$filled" "$fill_seen" "$flush"
        printf ' SIGTERM -> exit in %s ms (%s); disk file %s MiB\n' "$stop_ms" "$stop_how" "$file_mib"
        printf '%-10s restart: port open %s ms, first HIT on %s at %s ms (%s probe(s), origin saw %s)\n' \
            "${LABEL[$c]}" "$port_ms" "/z$KEYS" "$hit_ms" "$probes" "${probe_seen:-?}"
        ((FIRST_S > 0)) &&
            printf '%-10s zipf 0-%ss: %s requests, %s req/s, origin %s requests for %s distinct paths, hit %s\n' \
                "${LABEL[$c]}" "$FIRST_S" "$r1" "$s1" "$o1" "$p1" "$hit1"
        printf '%-10s zipf %s-%ss: %s requests, %s req/s, origin %s requests for %s distinct paths, hit %s' \
            "${LABEL[$c]}" "$FIRST_S" "$DURATION" "$r2" "$s2" "$o2" "$p2" "$(ratio "$o2" "$r2")"
        printf '; accel RSS after %s MiB\n' "$rss"
    } | tee -a "$RAW" >&2
    return 0
}

note "configs ${CONFIGS[*]}: fill $KEYS URLs, restart, ${DURATION}s of Zipf load each"
for c in "${CONFIGS[@]}"; do
    run_config "$c"
    sleep 1
done

{
    echo "accel restart-bench: the first ${DURATION} s after a restart, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "fill: GET /z1..z$KEYS$SUFFIX once each (curl, one connection), then SIGTERM and a restart with the"
    echo "same config; load: k ~ Zipf(s=$ZIPF_S) over the same $KEYS keys (bench/zipf.lua, seed $SEED then" \
        "$((SEED + 1))), wrk -t1 -c$CONNS, $( ((FIRST_S > 0)) && echo "${FIRST_S}s + ")$((DURATION - FIRST_S))s"
    echo "accel: workers $WORKERS, cache_memory ${BUDGET_MIB}m (holds every object), accel+disk adds cache_disk" \
        "${DISK_MIB}m; CPU pinning: $PINNING"
    machine
    echo "$VERSIONS"
    echo
    printf '%-11s %8s %11s %10s %9s %9s %12s\n' config "port ms" "1st HIT ms" "hit 0-${FIRST_S}s" "hit all" \
        "req/s" "origin reqs"
    for c in "${CONFIGS[@]}"; do
        [[ -n ${RPS[$c]:-} ]] || continue
        printf '%-11s %8s %11s %10s %9s %9s %12s\n' "${LABEL[$c]}" "${PORT_MS[$c]}" "${HIT_MS[$c]}" \
            "${HIT1[$c]}" "${HITALL[$c]}" "${RPS[$c]}" "${SEEN[$c]}"
    done
    echo
    echo "'port ms' / '1st HIT ms': from the exec of the restarted accel to its port accepting, and to the first"
    echo "answer 'X-Cache: HIT' for /z$KEYS (asked with only-if-cached, polled every few ms for at most ${HIT_WAIT_S}s;"
    echo "'none': a memory-only cache has nothing after a restart). 'hit' = 1 - origin requests / requests"
    echo "answered, over the first ${FIRST_S} s and over all ${DURATION} s; 'origin reqs' over all ${DURATION} s. Ideal: with"
    echo "the disk tier 1.000 and 0 origin requests (every key was filled); memory-only, a cold cache: one"
    echo "origin request per distinct key asked for (the runs below give the distinct paths)."
    for c in "${CONFIGS[@]}"; do
        [[ -n ${NOTE[$c]:-} ]] && echo "note: ${LABEL[$c]}: ${NOTE[$c]}"
    done
    echo
    echo "runs:"
    cat "$RAW"
} | tee "$REPORT"
note "written to ${REPORT#"$ROOT"/}"
