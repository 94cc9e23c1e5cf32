#!/usr/bin/env bash
# coalesce-bench.sh - request coalescing, side by side: accel, nginx (proxy_cache_lock) and Varnish
# in front of an accel-origin that takes 500 ms per answer. Many clients ask for the same cold URL
# at the same moment; a cache that coalesces sends one request to the origin and answers every
# client about 500 ms later.
#   A: 1000 clients on one cold URL;  B: 50 cold URLs x 100 clients each (5000 clients).
# Reports per cache: origin requests per URL, the slowest client's completion time, p50 and p90.
# Prints one table and writes it to bench/results/coalesce-<date>-<time>.txt, and per cache and
# scenario the p99 completion time, origin requests and the cache's peak resident memory during the
# client runs (VmHWM of its processes, summed, reset before each run) as tab-separated values to
# coalesce-<date>-<time>.tsv (read by compare.sh).
#
# Usage: bench/coalesce-bench.sh       (from anywhere; build first: cmake -B build && cmake --build build -j2)
# Knobs (environment):
#   ACCEL_BIN=build/accel  ORIGIN_BIN=build/accel-origin
#   ROUNDS=2  WORKERS=1  DELAY=500 (ms at the origin)  CLIENTS_A=1000  URLS_B=50  CLIENTS_B=100
#   TIMEOUT=20 (s, bound of one scenario run)  CACHES="accel nginx varnish" (and accel-old)
#   ACCEL_OLD=/path/to/accel (an older build: runs as accel-old after accel, same config)
#   PROXY_CPUS=1  LOAD_CPUS=0   (taskset lists: caches vs the clients + origin)
#   KEEP_TMP=1 keeps the generated configs and logs.
# Every server is started by this script on a fixed loopback port and stopped at exit; every
# client run is bounded in time. HAProxy is not in the default CACHES: its cache does not coalesce
# misses (CACHES="... haproxy" runs it anyway, to show what that costs the origin).
set -uo pipefail

BENCH=coalesce-bench
# shellcheck source=bench/cache-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cache-lib.sh"

ROUNDS=${ROUNDS:-2}
DELAY=${DELAY:-500}
CLIENTS_A=${CLIENTS_A:-1000}
URLS_B=${URLS_B:-50}
CLIENTS_B=${CLIENTS_B:-100}
TIMEOUT=${TIMEOUT:-20}
CACHE_MIB=256
read -r -a CACHES <<<"${CACHES:-accel nginx varnish}"
mapfile -t CACHES < <(with_accel_old "${CACHES[@]}")
for v in ROUNDS DELAY CLIENTS_A URLS_B CLIENTS_B TIMEOUT; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive number"
done
command -v python3 >/dev/null || die "python3 not found: apt-get install python3"
bench_init
CLIENT="$ROOT/bench/coalesce-client.py"

start_origin
for t in "${CACHES[@]}"; do
    case $t in
    accel | accel-old | nginx | varnish | haproxy) start_cache "$t" "$CACHE_MIB" ;;
    *) die "CACHES takes accel, accel-old, nginx, varnish, haproxy (got '$t')" ;;
    esac
done

# A cache that does not answer a cacheable URL with 200 and the full body is left out.
for t in "${CACHES[@]}"; do
    [[ -n ${ENABLED[$t]:-} ]] || continue
    out=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:${PORT[$t]}/c-check-$t?size=1024&cc=max-age%3D60")
    if [[ $out != "200 1024" ]]; then
        NOTE[$t]="answers /c-check-$t with '$out' instead of '200 1024'; left out"
        unset "ENABLED[$t]"
    fi
done

ACTIVE=()
for t in "${CACHES[@]}"; do
    [[ -n ${ENABLED[$t]:-} ]] && ACTIVE+=("$t")
done
((${#ACTIVE[@]} > 0)) || die "no cache to measure: $(for t in "${CACHES[@]}"; do echo -n "$t: ${NOTE[$t]:-?}; "; done)"
note "targets ${ACTIVE[*]}; $ROUNDS round(s) x 2 scenarios; origin delay ${DELAY} ms"

REPORT="$RESULTS_DIR/coalesce-$STAMP.txt"
RAW="$TMP/raw.txt"
: >"$RAW"
declare -A OMEAN=() OMAX=() MAXMS=() P50=() P90=() P99=() FAILED=() OTOTAL=() CLIENTS=() PEAK=() CPU=()
Q="delay=$DELAY&cc=max-age%3D60&size=1024"

run_client() { # run_client <target> <clients per url> <paths...>: prints the client's line
    local t=$1 n=$2
    shift 2
    timeout $((TIMEOUT + 15)) "${PIN_LOAD[@]}" python3 "$CLIENT" --port "${PORT[$t]}" \
        --origin-port "$ORIGIN_PORT" --clients-per-url "$n" --timeout "$TIMEOUT" "$@" ||
        echo "clients=$((n * $#)) ok=0 failed=$((n * $#)) p50_ms=nan p90_ms=nan p99_ms=nan max_ms=nan origin_mean=nan origin_max=nan origin_total=nan"
}

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

record() { # record <target> <scenario> <round> <client line> <peak RSS KiB> <cpu ms per 1000 clients>
    local t=$1 sc=$2 r=$3 line=$4 peak=$5 cpu=$6 k="$1/$2"
    printf 'round %d  %-9s %s  %s  peak_rss_kib=%s  cpu_ms_per_1k=%s\n' "$r" "$t" "$sc" "$line" "$peak" "$cpu" | tee -a "$RAW" >&2
    CPU[$k]="${CPU[$k]:-} $cpu"
    OMEAN[$k]="${OMEAN[$k]:-} $(field origin_mean "$line")"
    OMAX[$k]="${OMAX[$k]:-} $(field origin_max "$line")"
    MAXMS[$k]="${MAXMS[$k]:-} $(field max_ms "$line")"
    P50[$k]="${P50[$k]:-} $(field p50_ms "$line")"
    P90[$k]="${P90[$k]:-} $(field p90_ms "$line")"
    FAILED[$k]="${FAILED[$k]:-} $(field failed "$line")"
    P99[$k]="${P99[$k]:-} $(field p99_ms "$line")"
    OTOTAL[$k]="${OTOTAL[$k]:-} $(field origin_total "$line")"
    CLIENTS[$k]="${CLIENTS[$k]:-} $(field clients "$line")"
    ((peak > ${PEAK[$k]:-0})) && PEAK[$k]=$peak
    return 0
}

peak_start() { [[ -n ${PID[$1]:-} ]] && rss_peak_reset "${PID[$1]}"; }
peak_kb() { if [[ -n ${PID[$1]:-} ]]; then rss_peak_kb "${PID[$1]}"; else echo 0; fi; }

# Every round of A first, then every round of B (the caches interleaved within each round): the
# caches stay up, and a cache's memory after 5000 clients (B) would otherwise be in A's peak RSS.
for sc in A B; do
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in "${ACTIVE[@]}"; do
            [[ -n ${ENABLED[$t]:-} ]] || continue
            paths=("/c-$t-$r?$Q") n=$CLIENTS_A
            if [[ $sc == B ]]; then
                paths=() n=$CLIENTS_B
                for ((i = 0; i < URLS_B; i++)); do
                    paths+=("/cb-$t-$r-$i?$Q")
                done
            fi
            origin_reset
            peak_start "$t"
            c0=$(cpu_ticks "${PID[$t]}")
            line=$(run_client "$t" "$n" "${paths[@]}")
            c1=$(cpu_ticks "${PID[$t]}")
            record "$t" "$sc" "$r" "$line" "$(peak_kb "$t")" "$(cpu_per_1k "$c0" "$c1" "$(field clients "$line")")"
            check_alive "$t" || note "$t: ${NOTE[$t]}"
            sleep 1
        done
    done
done

max_of() { awk '{ m = ""; for (i = 1; i <= NF; i++) if ($i != "nan" && (m == "" || $i + 0 > m)) m = $i + 0; print (m == "" ? "-" : m) }' <<<"$1"; }
mean_of() { awk '{ s = 0; n = 0; for (i = 1; i <= NF; i++) if ($i != "nan") { s += $i; n++ } if (n) printf "%.1f", s / n; else print "-" }' <<<"$1"; }

{
    echo "accel coalesce-bench: request coalescing, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "origin: accel-origin, every answer delayed ${DELAY} ms (GET /c-...?$Q), 1 KiB bodies, max-age=60"
    echo "A: $CLIENTS_A clients on one cold URL; B: $URLS_B cold URLs x $CLIENTS_B clients each;" \
        "a fresh URL per cache per round; $ROUNDS round(s)"
    echo "client: bench/coalesce-client.py (one python3 asyncio thread): all connections opened first, then" \
        "every request written at once; times are from that moment to the last byte of each answer"
    echo "workers: $WORKERS (Varnish: thread_pools=1); CPU pinning: $PINNING"
    machine
    echo "$VERSIONS"
    echo
    printf '%-9s %-3s %10s %8s %11s %9s %9s %10s %7s\n' cache sc "origin/url" "max/url" "slowest ms" "p50 ms" "p90 ms" \
        "cpu ms/1k" failed
    for sc in A B; do
        for t in "${ACTIVE[@]}"; do
            k="$t/$sc"
            printf '%-9s %-3s %10s %8s %11s %9s %9s %10s %7s\n' "$t" "$sc" "$(mean_of "${OMEAN[$k]}")" \
                "$(max_of "${OMAX[$k]}")" "$(max_of "${MAXMS[$k]}")" "$(mean_of "${P50[$k]}")" \
                "$(mean_of "${P90[$k]}")" "$(mean_known "${CPU[$k]:-}")" "$(sum "${FAILED[$k]}")"
        done
    done
    echo
    echo "'origin/url' is the mean number of origin requests per URL (1.0 = perfect coalescing), 'max/url'"
    echo "the worst URL over all rounds; 'slowest ms' is the slowest client over all rounds, p50/p90 are"
    echo "means over the rounds; 'failed' counts clients without a complete 200 within ${TIMEOUT}s."
    echo "The floor is the origin's ${DELAY} ms plus the client's own time to write and read every"
    echo "connection (one Python thread: 'send_ms' in the runs below). 'cpu ms/1k' is the cache's CPU time"
    echo "(utime + stime of its processes over the client run) per 1000 clients, mean over the rounds."
    for t in "${CACHES[@]}"; do
        [[ -n ${NOTE[$t]:-} ]] && echo "note: $t: ${NOTE[$t]}"
    done
    echo
    echo "runs:"
    cat "$RAW"
} | tee "$REPORT"

# Machine-readable: the columns every cache benchmark's .tsv starts with, then this script's own;
# "-" where a field does not apply (no req/s here: each run is one burst). p99_ms, p50_ms, p90_ms
# are client completion times, means over the rounds; origin_reqs the origin requests for the
# scenario's URLs per run (mean over the rounds); hit_ratio = 1 - origin requests / clients over
# all rounds; peak_rss_mib the highest VmHWM of the cache's processes (summed) during one run.
TSV="${REPORT%.txt}.tsv"
{
    tsv scenario cache req_s p99_ms hit_ratio origin_reqs peak_rss_mib clients urls origin_per_url origin_max_url \
        slowest_ms p50_ms p90_ms failed rounds cpu_ms_per_1k
    for sc in A B; do
        for t in "${ACTIVE[@]}"; do
            k="$t/$sc"
            [[ -n ${OMEAN[$k]:-} ]] || continue
            urls=1
            [[ $sc == B ]] && urls=$URLS_B
            tsv "coalesce-$sc" "$t" - "$(mean_of "${P99[$k]}")" \
                "$(awk -v o="${OTOTAL[$k]}" -v c="${CLIENTS[$k]}" 'BEGIN {
                    n = split(o, a, " "); split(c, b, " "); so = 0; sc = 0
                    for (i = 1; i <= n; i++) if (a[i] != "nan") { so += a[i]; sc += b[i] }
                    if (sc > 0) printf "%.3f", 1 - so / sc; else print "-" }')" \
                "$(mean_of "${OTOTAL[$k]}")" \
                "$(awk -v kb="${PEAK[$k]:-0}" 'BEGIN {if (kb > 0) printf "%.1f", kb / 1024; else print "-"}')" \
                "$(mean_of "${CLIENTS[$k]}")" "$urls" "$(mean_of "${OMEAN[$k]}")" "$(max_of "${OMAX[$k]}")" \
                "$(max_of "${MAXMS[$k]}")" "$(mean_of "${P50[$k]}")" "$(mean_of "${P90[$k]}")" \
                "$(sum "${FAILED[$k]}")" "$(wc -w <<<"${OMEAN[$k]}")" "$(mean_known "${CPU[$k]:-}")"
        done
    done
} >"$TSV"
note "written to ${REPORT#"$ROOT"/} (and ${TSV#"$ROOT"/})"
