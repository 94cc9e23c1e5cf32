#!/usr/bin/env bash
# hit-bench.sh - hot cache hits, side by side: accel, nginx, Varnish and HAProxy in front of the
# same accel-origin, each loaded with wrk on one cached URL per body size, in interleaved rounds,
# with accel-fixed (a server that writes a fixed answer without parsing) as the box's limit.
# Prints one table and writes it to bench/results/hits-<date>-<time>.txt, and the same rows with
# the peak resident memory of each target during its runs (VmHWM, reset before each run) as
# tab-separated values to hits-<date>-<time>.tsv (read by compare.sh). Every run also gives the
# target's CPU time per 1000 answers (utime + stime of its processes over the run). Then, per size
# in RATE_SIZES, every target again at one fixed open-loop rate (accel-bench -r), below every
# target's ceiling: p50/p99 latency (from when each request was due) and CPU per 1000 answers at
# the same load, which tell caches apart where the load generator caps req/s.
#
# Usage: bench/hit-bench.sh            (from anywhere; build first: cmake -B build && cmake --build build -j2)
# Knobs (environment):
#   ACCEL_BIN=build/accel  ORIGIN_BIN=build/accel-origin  FIXED_BIN=build/accel-fixed
#   DURATION=8 (s per run)  ROUNDS=2  WORKERS=1  CONNS=64  SIZES="1k 64k" (also 1m)  WARMUP=2 (s)
#   CACHES="accel nginx varnish haproxy" (any subset, and accel-old; accel-fixed always runs)
#   ACCEL_OLD=/path/to/accel (an older build: runs as accel-old after accel, same config)
#   RATE_SIZES="1k" (sizes with a fixed-rate run; "" for none)  RATE (req/s; default: RATE_PCT=60 %
#   of the slowest target's closed-loop req/s at that size, measured just before)  BENCH_BIN=build/accel-bench
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
RATE_SIZES=${RATE_SIZES-1k}
RATE=${RATE:-}
RATE_PCT=${RATE_PCT:-60}
BENCH_BIN=${BENCH_BIN:-build/accel-bench}
CACHE_MIB=256
[[ -z $RATE || $RATE =~ ^[0-9]+$ && $RATE -gt 0 ]] || die "RATE must be a positive number of requests per second"
RATE_HOW="RATE=$RATE"
[[ -z $RATE ]] && RATE_HOW="$RATE_PCT% of the slowest target's closed-loop req/s at that size"
[[ $RATE_PCT =~ ^[0-9]+$ && $RATE_PCT -gt 0 && $RATE_PCT -le 100 ]] || die "RATE_PCT must be 1 to 100"

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
for s in $RATE_SIZES; do
    [[ -n ${BYTES[$s]:-} ]] || die "RATE_SIZES takes sizes of SIZES ($SIZES; got '$s')"
done
bench_init

read -r -a CACHES <<<"${CACHES:-accel nginx varnish haproxy}"
mapfile -t CACHES < <(with_accel_old "${CACHES[@]}")
declare -A RPS=() P50=() P99=() ERRS=() SEEN=() REQS=() PEAK=() CPU=()
# the fixed-rate runs, per target/size: achieved req/s, p50, p99, p99.9, CPU, errors, requests, ...
declare -A RRPS=() RP50=() RP99=() RP999=() RCPU=() RERRS=() RREQS=() RSEEN=() RPEAK=() RATE_OF=()

url() { echo "/hot$1?size=${BYTES[$1]}&cc=max-age%3D3600"; }

# ---- servers -------------------------------------------------------------------------------------
start_origin
for t in "${CACHES[@]}"; do
    case $t in
    accel | accel-old | nginx | varnish | haproxy) start_cache "$t" "$CACHE_MIB" ;;
    *) die "CACHES takes accel, accel-old, nginx, varnish, haproxy (got '$t')" ;;
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
    accel | accel-old) grep -qi '^X-Cache: HIT' <<<"$hdr" || {
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

# run_rate <port> <path> <rate> <seconds>: accel-bench in open loop at <rate> req/s; prints
# "rps p50_ms p99_ms p99.9_ms errors requests", or "0 0 0 0 F 0"
run_rate() {
    local port=$1 path=$2 rate=$3 secs=$4 out
    out=$(timeout $((secs + 20)) "${PIN_LOAD[@]}" "$BENCH_BIN" -c "$CONNS" -t 1 -d "$secs" -r "$rate" \
        -w "one:$path" -j -q "http://127.0.0.1:$port" 2>/dev/null) || {
        echo "0 0 0 0 F 0"
        return
    }
    awk '{
        v["rps"] = v["p50"] = v["p99"] = v["p99.9"] = v["requests"] = 0; e = 0
        n = split($0, f, /[{},]/)
        for (i = 1; i <= n; i++) {
            if (split(f[i], kv, /: /) != 2) continue
            gsub(/[" ]/, "", kv[1])
            v[kv[1]] = kv[2] + 0
            if (kv[1] ~ /^(connect|timeout|read|parse|status)$/) e += kv[2]
        }
        printf "%s %s %s %s %d %d\n", v["rps"], v["p50"], v["p99"], v["p99.9"], e, v["requests"] }' <<<"$out"
}

# The fixed rate for size <s>: RATE, or RATE_PCT % of the slowest target's closed-loop req/s.
rate_for() {
    local s=$1 t lo=""
    if [[ -n $RATE ]]; then
        echo "$RATE"
        return
    fi
    for t in "${ACTIVE[@]}"; do
        [[ -n ${RPS[$t/$s]:-} ]] || continue
        lo=$(awk -v m="$(mean "${RPS[$t/$s]}")" -v lo="$lo" 'BEGIN {print (m > 0 && (lo == "" || m < lo)) ? m : lo}')
    done
    awk -v lo="${lo:-0}" -v p="$RATE_PCT" 'BEGIN {printf "%d", lo * p / 100}'
}

for s in $SIZES; do
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in "${ACTIVE[@]}"; do
            [[ $t == fixed && -z ${ENABLED[fixed/$s]:-} ]] && continue
            [[ $t != fixed && -z ${ENABLED[$t]:-} ]] && continue
            origin_reset
            pid=$(target_pid "$t" "$s")
            [[ -n $pid ]] && rss_peak_reset "$pid"
            c0=""
            [[ -n $pid ]] && c0=$(cpu_ticks "$pid")
            read -r rps p50 p99 errs reqs bytes < <(run_wrk "$(target_port "$t" "$s")" "$(url "$s")" "$DURATION")
            c1=""
            [[ -n $pid ]] && c1=$(cpu_ticks "$pid")
            cpu=$(cpu_per_1k "$c0" "$c1" "$reqs")
            seen=$(origin_requests)
            peak=0
            [[ -n $pid ]] && peak=$(rss_peak_kb "$pid")
            if [[ $t != fixed ]] && ! check_alive "$t"; then
                note "$t: ${NOTE[$t]}"
            fi
            printf 'round %d  %-9s %-4s %12s req/s  p50 %8s ms  p99 %8s ms  cpu %s ms/1k  errors %s  requests %s  bytes/resp %s  origin saw %s  peak RSS %s KiB\n' \
                "$r" "$t" "$s" "$rps" "$p50" "$p99" "$cpu" "$errs" "$reqs" \
                "$(awk -v b="$bytes" -v n="$reqs" 'BEGIN {printf "%.0f", n ? b / n : 0}')" "${seen:-?}" "$peak" |
                tee -a "$RAW" >&2
            k="$t/$s"
            CPU[$k]="${CPU[$k]:-} $cpu"
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
    # the same load for every target: one open-loop rate below every ceiling
    [[ " $RATE_SIZES " == *" $s "* ]] || continue
    if [[ ! -x $BENCH_BIN ]]; then
        add_note rate "no fixed-rate runs: $BENCH_BIN not built"
        continue
    fi
    rate=$(rate_for "$s")
    if ((rate <= 0)); then
        add_note rate "no fixed-rate run at $s: no closed-loop req/s to take the rate from"
        continue
    fi
    RATE_OF[$s]=$rate
    note "size $s: fixed rate $rate req/s ($RATE_HOW)"
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in "${ACTIVE[@]}"; do
            [[ $t == fixed && -z ${ENABLED[fixed/$s]:-} ]] && continue
            [[ $t != fixed && -z ${ENABLED[$t]:-} ]] && continue
            origin_reset
            pid=$(target_pid "$t" "$s")
            [[ -n $pid ]] && rss_peak_reset "$pid"
            c0=""
            [[ -n $pid ]] && c0=$(cpu_ticks "$pid")
            read -r rps p50 p99 p999 errs reqs < <(run_rate "$(target_port "$t" "$s")" "$(url "$s")" "$rate" "$DURATION")
            c1=""
            [[ -n $pid ]] && c1=$(cpu_ticks "$pid")
            cpu=$(cpu_per_1k "$c0" "$c1" "$reqs")
            seen=$(origin_requests)
            peak=0
            [[ -n $pid ]] && peak=$(rss_peak_kb "$pid")
            if [[ $t != fixed ]] && ! check_alive "$t"; then
                note "$t: ${NOTE[$t]}"
            fi
            printf 'round %d  %-9s %-4s at %s/s: %10s req/s  p50 %8s ms  p99 %8s ms  p99.9 %8s ms  cpu %s ms/1k  errors %s  requests %s  origin saw %s  peak RSS %s KiB\n' \
                "$r" "$t" "$s" "$rate" "$rps" "$p50" "$p99" "$p999" "$cpu" "$errs" "$reqs" "${seen:-?}" "$peak" |
                tee -a "$RAW" >&2
            k="$t/$s"
            RRPS[$k]="${RRPS[$k]:-} $rps"
            RP50[$k]="${RP50[$k]:-} $p50"
            RP99[$k]="${RP99[$k]:-} $p99"
            RP999[$k]="${RP999[$k]:-} $p999"
            RCPU[$k]="${RCPU[$k]:-} $cpu"
            RREQS[$k]="${RREQS[$k]:-} $reqs"
            [[ $t == fixed ]] && seen=0
            RSEEN[$k]="${RSEEN[$k]:-} ${seen:-0}"
            ((peak > ${RPEAK[$k]:-0})) && RPEAK[$k]=$peak
            if [[ $errs == F ]]; then
                add_note "$t" "accel-bench failed or timed out in a fixed-rate run (counted as 0 req/s)"
                errs=0
            fi
            RERRS[$k]=$((${RERRS[$k]:-0} + errs))
            # an open loop that falls behind measures the queue, not the target at that rate
            if awk -v a="$rps" -v w="$rate" 'BEGIN {exit !(a < w * 0.97)}'; then
                add_note "$t" "did not keep up with the fixed rate at $s ($rps of $rate req/s): above its ceiling, or the load side's"
            fi
            sleep 1
        done
    done
done

# cpu_ratio <cpu> <accel's cpu>: <cpu> / accel's, or -
cpu_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b + 0 <= 0) print "-"; else printf "%.2fx", a / b}'
}

{
    echo "accel hit-bench: hot cache hits, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "URL: GET /hot<size>?size=N&cc=max-age%3D3600, warmed and checked as a hit first;" \
        "wrk -t1 -c$CONNS -d${DURATION}s --latency; $ROUNDS interleaved round(s); req/s, p50, p99 are means over the rounds"
    echo "cache budget: ${CACHE_MIB} MiB each; workers/threads: $WORKERS (Varnish: thread_pools=1); CPU pinning: $PINNING"
    machine
    echo "$VERSIONS"
    echo
    printf '%-19s %-4s %10s %6s %8s %8s %10s %9s %7s %12s\n' cache size "req/s" "+-" "p50 ms" "p99 ms" "cpu ms/1k" \
        "vs accel" errors "origin reqs"
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
            printf '%-19s %-4s %10s %6s %8s %8s %10s %9s %7s %12s\n' "$name" "$s" "$m" "$(spread "${RPS[$k]}")" "$(mean "${P50[$k]}")" \
                "$(mean "${P99[$k]}")" "$(mean_known "${CPU[$k]}")" "$ratio" "${ERRS[$k]}" "$seen"
        done
    done
    if ((${#RATE_OF[@]} > 0)); then
        echo
        echo "At a fixed rate (accel-bench -c$CONNS -r RATE -d${DURATION}s, open loop: latency counts from when each request was due):"
        printf '%-19s %-4s %8s %10s %8s %8s %9s %10s %9s %7s %12s\n' cache size "rate" "req/s" "p50 ms" "p99 ms" "p99.9 ms" \
            "cpu ms/1k" "cpu/accel" errors "origin reqs"
        for s in $SIZES; do
            [[ -n ${RATE_OF[$s]:-} ]] || continue
            base=-
            [[ -n ${RCPU[accel/$s]:-} ]] && base=$(mean_known "${RCPU[accel/$s]}")
            for t in "${ACTIVE[@]}"; do
                k="$t/$s"
                [[ -n ${RRPS[$k]:-} ]] || continue
                name=$t seen=$(sum "${RSEEN[$k]}")
                [[ $t == fixed ]] && name="accel-fixed (limit)" seen="-"
                printf '%-19s %-4s %8s %10s %8s %8s %9s %10s %9s %7s %12s\n' "$name" "$s" "${RATE_OF[$s]}" "$(mean "${RRPS[$k]}")" \
                    "$(mean_known "${RP50[$k]}")" "$(mean_known "${RP99[$k]}")" "$(mean_known "${RP999[$k]}")" \
                    "$(mean_known "${RCPU[$k]}")" "$(cpu_ratio "$(mean_known "${RCPU[$k]}")" "$base")" "${RERRS[$k]}" "$seen"
            done
        done
    fi
    echo
    echo "'vs accel' is req/s relative to accel at the same size (above 1 = faster than accel); '+-' is half"
    echo "the range of req/s over the rounds in % of the mean: above ~10% the box was not quiet."
    echo "'origin reqs' is what accel-origin saw during the measured runs (all rounds): ~0 for a working cache."
    echo "'accel-fixed (limit)' writes one fixed answer of the same size without parsing: the most this box"
    echo "can serve with this client; every cache does at least that work on a hit."
    echo "'cpu ms/1k' is the target's CPU time (utime + stime of its processes, /proc/<pid>/stat, sampled"
    echo "just before and after each run) per 1000 answers, mean over the rounds; 'cpu/accel' the same"
    echo "relative to accel's. The fixed rate is $RATE_HOW: every"
    echo "target gets the same load, below its ceiling, so latency and CPU per answer compare directly."
    [[ -n ${NOTE[rate]:-} ]] && echo "note: ${NOTE[rate]}"
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
    tsv scenario cache req_s p99_ms hit_ratio origin_reqs peak_rss_mib size req_s_spread p50_ms errors requests rounds \
        cpu_ms_per_1k rate p999_ms
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
                "$s" "$(spread "${RPS[$k]}")" "$(mean "${P50[$k]}")" "${ERRS[$k]}" "$(mean "${REQS[$k]}")" "$n" \
                "$(mean_known "${CPU[$k]}")" - -
        done
    done
    # the fixed-rate runs: scenario hits-<size>-rate, req_s the rate achieved
    for s in $SIZES; do
        [[ -n ${RATE_OF[$s]:-} ]] || continue
        for t in "${ACTIVE[@]}"; do
            k="$t/$s"
            [[ -n ${RRPS[$k]:-} ]] || continue
            name=$t hitr="-" seen="-"
            if [[ $t == fixed ]]; then
                name=accel-fixed
            else
                hitr=$(awk -v o="$(sum "${RSEEN[$k]}")" -v n="$(sum "${RREQS[$k]}")" 'BEGIN {if (n > 0) printf "%.3f", 1 - o / n; else print "-"}')
                seen=$(mean "${RSEEN[$k]}")
            fi
            tsv "hits-$s-rate" "$name" "$(mean "${RRPS[$k]}")" "$(mean_known "${RP99[$k]}")" "$hitr" "$seen" \
                "$(awk -v kb="${RPEAK[$k]:-0}" 'BEGIN {if (kb > 0) printf "%.1f", kb / 1024; else print "-"}')" \
                "$s" "$(spread "${RRPS[$k]}")" "$(mean_known "${RP50[$k]}")" "${RERRS[$k]}" "$(mean "${RREQS[$k]}")" \
                "$(wc -w <<<"${RRPS[$k]}")" "$(mean_known "${RCPU[$k]}")" "${RATE_OF[$s]}" "$(mean_known "${RP999[$k]}")"
        done
    done
} >"$TSV"
note "written to ${REPORT#"$ROOT"/} (and ${TSV#"$ROOT"/})"
