#!/usr/bin/env bash
# hit-bench.sh - hot cache hits, side by side: accel, nginx, Varnish and HAProxy in front of the
# same accel-origin, each loaded with wrk on one cached URL per body size, in interleaved rounds,
# with accel-fixed (a server that writes a fixed answer without parsing) as the box's limit.
# Prints one table and writes it to bench/results/hits-<date>-<time>.txt, and the same rows with
# the peak resident memory of each target during its runs (VmHWM, reset before each run) as
# tab-separated values to hits-<date>-<time>.tsv (read by compare.sh).
#
# Usage: bench/hit-bench.sh            (from anywhere; build first: cmake -B build && cmake --build build -j2)
# Knobs (environment):
#   ACCEL_BIN=build/accel  ORIGIN_BIN=build/accel-origin  FIXED_BIN=build/accel-fixed
#   DURATION=8 (s per run)  ROUNDS=2  WORKERS=1  CONNS=64  SIZES="1k 64k" (also 1m)  WARMUP=2 (s)
#   CACHES="accel nginx varnish haproxy" (any subset; accel-fixed always runs)
#   PROXY_CPUS=1  LOAD_CPUS=0   (taskset lists: caches vs wrk + origin)
#   KEEP_TMP=1 keeps the generated configs and logs.
# Every server is started by this script on a fixed loopback port and stopped at exit;
# every wait and every wrk run is bounded in time.
set -uo pipefail

BENCH=hit-bench
# shellcheck source=bench/cache-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cache-lib.sh"

DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-64}
SIZES=${SIZES:-"1k 64k"}
WARMUP=${WARMUP:-2}
CACHE_MIB=256

[[ $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || die "DURATION must be a number of seconds"
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -gt 0 ]] || die "ROUNDS must be a positive number"
declare -A BYTES=()
for s in $SIZES; do
    case $s in
    *k) BYTES[$s]=$((${s%k} * 1024)) ;;
    *m) BYTES[$s]=$((${s%m} * 1048576)) ;;
    *) die "SIZES takes sizes like 1k, 64k, 1m (got '$s')" ;;
    esac
    [[ ${s%[km]} =~ ^[0-9]+$ ]] || die "SIZES takes sizes like 1k, 64k, 1m (got '$s')"
done
bench_init

read -r -a CACHES <<<"${CACHES:-accel nginx varnish haproxy}"
declare -A RPS=() P50=() P99=() ERRS=() SEEN=() REQS=() PEAK=()

url() { echo "/hot$1?size=${BYTES[$1]}&cc=max-age%3D3600"; }

# ---- servers -------------------------------------------------------------------------------------
start_origin
for t in "${CACHES[@]}"; do
    case $t in
    accel | nginx | varnish | haproxy) "start_$t" "$CACHE_MIB" ;;
    *) die "CACHES takes accel, nginx, varnish, haproxy (got '$t')" ;;
    esac
done
i=0
for s in $SIZES; do
    start_fixed "fixed/$s" $((FIXED_PORT + i)) "${BYTES[$s]}"
    i=$((i + 1))
done

# Warms <target> on size <s> and checks that it now answers from its cache: the full body, the
# cache's own hit marker where it has one, and no origin request for 5 more requests.
warm_check() {
    local t=$1 s=$2 u hdr code len before after i
    u="http://127.0.0.1:${PORT[$t]}$(url "$s")"
    for i in 1 2; do
        hdr=$(curl -s -m 10 -D - -o "$TMP/body" -w '%{http_code} %{size_download}' "$u") || {
            echo "no answer to $u"
            return 1
        }
    done
    read -r code len <<<"$(tail -n 1 <<<"$hdr")"
    [[ $code == 200 && $len == "${BYTES[$s]}" ]] || {
        echo "answers $(url "$s") with $code and $len bytes"
        return 1
    }
    case $t in
    accel) grep -qi '^X-Cache: HIT' <<<"$hdr" || {
        echo "second answer for $(url "$s") is not X-Cache: HIT ($(grep -i '^X-Cache' <<<"$hdr" | tr -d '\r'))"
        return 1
    } ;;
    nginx) grep -qi '^X-Cache: HIT' <<<"$hdr" || {
        echo "second answer for $(url "$s") is not X-Cache: HIT ($(grep -i '^X-Cache' <<<"$hdr" | tr -d '\r'))"
        return 1
    } ;;
    varnish) grep -qiE '^X-Varnish: [0-9]+ [0-9]+' <<<"$hdr" || {
        echo "second answer for $(url "$s") is not a hit ($(grep -i '^X-Varnish' <<<"$hdr" | tr -d '\r'))"
        return 1
    } ;;
    esac
    before=$(origin_path_count "/hot$s")
    for i in 1 2 3 4 5; do
        curl -s -m 10 -o /dev/null "$u"
    done
    after=$(origin_path_count "/hot$s")
    [[ -n $before && $before == "$after" ]] || {
        echo "the origin saw /hot$s again on warm requests ($before -> $after)"
        return 1
    }
    return 0
}

for t in "${CACHES[@]}"; do
    [[ -n ${ENABLED[$t]:-} ]] || continue
    for s in $SIZES; do
        if ! why=$(warm_check "$t" "$s"); then
            NOTE[$t]="$why; left out"
            unset "ENABLED[$t]"
            break
        fi
    done
done

run_wrk() { # run_wrk <port> <path> <seconds>: prints wrk_parse's fields, or "0 0 0 F 0 0"
    local port=$1 path=$2 secs=$3 out
    out=$(timeout $((secs + 20)) "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${secs}s" --latency \
        "http://127.0.0.1:$port$path" 2>&1) || {
        echo "0 0 0 F 0 0"
        return
    }
    wrk_parse <<<"$out"
}

REPORT="$RESULTS_DIR/hits-$STAMP.txt"
RAW="$TMP/raw.txt"
: >"$RAW"

ACTIVE=()
for t in "${CACHES[@]}"; do
    [[ -n ${ENABLED[$t]:-} ]] && ACTIVE+=("$t")
done
ACTIVE+=(fixed)
nsizes=$(wc -w <<<"$SIZES")
note "targets ${ACTIVE[*]}; $ROUNDS round(s) x $nsizes size(s) x ${DURATION}s each"

target_port() { # target_port <target> <size>
    if [[ $1 == fixed ]]; then
        echo "${PORT[fixed/$2]:-0}"
    else
        echo "${PORT[$1]}"
    fi
}

target_pid() { # target_pid <target> <size>
    if [[ $1 == fixed ]]; then
        echo "${PID[fixed/$2]:-}"
    else
        echo "${PID[$1]:-}"
    fi
}

first=${SIZES%% *}
if ((WARMUP > 0)); then
    for t in "${ACTIVE[@]}"; do
        [[ $t == fixed && -z ${ENABLED[fixed/$first]:-} ]] && continue
        run_wrk "$(target_port "$t" "$first")" "$(url "$first")" "$WARMUP" >/dev/null
    done
fi

for s in $SIZES; do
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in "${ACTIVE[@]}"; do
            [[ $t == fixed && -z ${ENABLED[fixed/$s]:-} ]] && continue
            [[ $t != fixed && -z ${ENABLED[$t]:-} ]] && continue
            origin_reset
            pid=$(target_pid "$t" "$s")
            [[ -n $pid ]] && rss_peak_reset "$pid"
            read -r rps p50 p99 errs reqs bytes < <(run_wrk "$(target_port "$t" "$s")" "$(url "$s")" "$DURATION")
            seen=$(origin_requests)
            peak=0
            [[ -n $pid ]] && peak=$(rss_peak_kb "$pid")
            if [[ $t != fixed ]] && ! check_alive "$t"; then
                note "$t: ${NOTE[$t]}"
            fi
            printf 'round %d  %-8s %-4s %12s req/s  p50 %8s ms  p99 %8s ms  errors %s  requests %s  bytes/resp %s  origin saw %s  peak RSS %s KiB\n' \
                "$r" "$t" "$s" "$rps" "$p50" "$p99" "$errs" "$reqs" \
                "$(awk -v b="$bytes" -v n="$reqs" 'BEGIN {printf "%.0f", n ? b / n : 0}')" "${seen:-?}" "$peak" |
                tee -a "$RAW" >&2
            k="$t/$s"
            RPS[$k]="${RPS[$k]:-} $rps"
            P50[$k]="${P50[$k]:-} $p50"
            P99[$k]="${P99[$k]:-} $p99"
            REQS[$k]="${REQS[$k]:-} $reqs"
            [[ $t == fixed ]] && seen=0
            SEEN[$k]="${SEEN[$k]:-} ${seen:-0}"
            ((peak > ${PEAK[$k]:-0})) && PEAK[$k]=$peak
            if [[ $errs == F ]]; then
                add_note "$t" "wrk failed or timed out in a run (counted as 0 req/s)"
                errs=0
            fi
            ERRS[$k]=$((${ERRS[$k]:-0} + errs))
            # wrk counts bytes, not bodies: a cache that answers short would look fast
            if ((reqs > 0)) && awk -v b="$bytes" -v n="$reqs" -v w="${BYTES[$s]}" 'BEGIN {exit !(b / n < w * 0.99)}'; then
                add_note "$t" "fewer bytes per answer than the body size at $s ($bytes bytes for $reqs answers)"
            fi
            sleep 1
        done
    done
done

{
    echo "accel hit-bench: hot cache hits, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "URL: GET /hot<size>?size=N&cc=max-age%3D3600, warmed and checked as a hit first;" \
        "wrk -t1 -c$CONNS -d${DURATION}s --latency; $ROUNDS interleaved round(s); req/s, p50, p99 are means over the rounds"
    echo "cache budget: ${CACHE_MIB} MiB each; workers/threads: $WORKERS (Varnish: thread_pools=1); CPU pinning: $PINNING"
    machine
    echo "$VERSIONS"
    echo
    printf '%-19s %-4s %10s %6s %8s %8s %9s %7s %12s\n' cache size "req/s" "+-" "p50 ms" "p99 ms" "vs accel" errors "origin reqs"
    for s in $SIZES; do
        base=""
        [[ -n ${RPS[accel/$s]:-} ]] && base=$(mean "${RPS[accel/$s]}")
        for t in "${ACTIVE[@]}"; do
            k="$t/$s"
            [[ -n ${RPS[$k]:-} ]] || continue
            m=$(mean "${RPS[$k]}")
            ratio="-"
            if [[ -n $base ]] && awk -v b="$base" 'BEGIN {exit !(b > 0)}'; then
                ratio=$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2fx", a / b}')
            fi
            name=$t seen=$(sum "${SEEN[$k]}")
            [[ $t == fixed ]] && name="accel-fixed (limit)" seen="-"
            printf '%-19s %-4s %10s %6s %8s %8s %9s %7s %12s\n' "$name" "$s" "$m" "$(spread "${RPS[$k]}")" "$(mean "${P50[$k]}")" \
                "$(mean "${P99[$k]}")" "$ratio" "${ERRS[$k]}" "$seen"
        done
    done
    echo
    echo "'vs accel' is req/s relative to accel at the same size (above 1 = faster than accel); '+-' is half"
    echo "the range of req/s over the rounds in % of the mean: above ~10% the box was not quiet."
    echo "'origin reqs' is what accel-origin saw during the measured runs (all rounds): ~0 for a working cache."
    echo "'accel-fixed (limit)' writes one fixed answer of the same size without parsing: the most this box"
    echo "can serve with this client; every cache does at least that work on a hit."
    for t in "${CACHES[@]}" fixed; do
        [[ -n ${NOTE[$t]:-} ]] && echo "note: $t: ${NOTE[$t]}"
    done
    for s in $SIZES; do
        [[ -n ${NOTE[fixed/$s]:-} ]] && echo "note: accel-fixed $s: ${NOTE[fixed/$s]}"
    done
    echo
    echo "runs:"
    cat "$RAW"
} | tee "$REPORT"

# The same rows, machine-readable: the columns every cache benchmark's .tsv starts with (req_s and
# p99_ms are means over the rounds; origin_reqs and requests are per run, means over the rounds;
# hit_ratio = 1 - origin requests / requests answered over all rounds; peak_rss_mib is the highest
# VmHWM of the target's processes (summed) during one of its runs, reset before each), then this
# script's own; "-" where a field does not apply.
TSV="${REPORT%.txt}.tsv"
{
    tsv scenario cache req_s p99_ms hit_ratio origin_reqs peak_rss_mib size req_s_spread p50_ms errors requests rounds
    for s in $SIZES; do
        for t in "${ACTIVE[@]}"; do
            k="$t/$s"
            [[ -n ${RPS[$k]:-} ]] || continue
            n=$(wc -w <<<"${RPS[$k]}")
            name=$t hitr="-" seen="-"
            if [[ $t == fixed ]]; then
                name=accel-fixed
            else
                hitr=$(awk -v o="$(sum "${SEEN[$k]}")" -v n="$(sum "${REQS[$k]}")" 'BEGIN {if (n > 0) printf "%.3f", 1 - o / n; else print "-"}')
                seen=$(mean "${SEEN[$k]}")
            fi
            tsv "hits-$s" "$name" "$(mean "${RPS[$k]}")" "$(mean "${P99[$k]}")" "$hitr" "$seen" \
                "$(awk -v kb="${PEAK[$k]:-0}" 'BEGIN {if (kb > 0) printf "%.1f", kb / 1024; else print "-"}')" \
                "$s" "$(spread "${RPS[$k]}")" "$(mean "${P50[$k]}")" "${ERRS[$k]}" "$(mean "${REQS[$k]}")" "$n"
        done
    done
} >"$TSV"
note "written to ${REPORT#"$ROOT"/} (and ${TSV#"$ROOT"/})"
