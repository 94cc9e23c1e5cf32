#!/usr/bin/env bash
# proxy-bench.sh - pass-through proxying (no cache), side by side: accel, nginx and HAProxy (and
# Varnish if CACHES names it) in front of the same accel-origin, each loaded with wrk on an
# uncacheable URL, in interleaved rounds. Prints one table and writes it to
# bench/results/proxy-<date>-<time>.txt, and the same rows with the origin requests, hit ratio and
# each proxy's peak resident memory during its runs (VmHWM of its processes, summed, reset before
# each run) as tab-separated values to proxy-<date>-<time>.tsv (read by compare.sh). Every run
# also gives each proxy's CPU time per 1000 requests (utime + stime of its processes over the run).
#
# Usage: bench/proxy-bench.sh            (from anywhere; build first: cmake -B build && cmake --build build -j2)
# Knobs (environment):
#   ACCEL_BIN=build/accel  ORIGIN_BIN=build/accel-origin
#   ACCEL_OLD=/path/to/accel (an older build: runs as accel-old after accel, same config, port 18088)
#   DURATION=10 (s per run)  ROUNDS=2  WORKERS=1  CONNS=64  SIZES="1024 65536"  WARMUP=2 (s, once per target)
#   CACHES="accel nginx haproxy" (any subset; also varnish: its built-in VCL passes the no-store
#   answers; the origin alone always runs)
#   PROXY_CPUS=1  LOAD_CPUS=0   (taskset lists: proxies vs wrk + origin)
#   KEEP_TMP=1 keeps the generated configs and logs.
# Every server is started by this script on a fixed loopback port and stopped at exit;
# every wait and every wrk run is bounded in time.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -n ${ACCEL_OLD:-} && $ACCEL_OLD != /* ]] && ACCEL_OLD=$PWD/$ACCEL_OLD
cd "$ROOT" || exit 1

ACCEL_BIN=${ACCEL_BIN:-build/accel}
ORIGIN_BIN=${ORIGIN_BIN:-build/accel-origin}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
WORKERS=${WORKERS:-1}
CONNS=${CONNS:-64}
SIZES=${SIZES:-"1024 65536"}
WARMUP=${WARMUP:-2}
PROXY_CPUS=${PROXY_CPUS:-1}
LOAD_CPUS=${LOAD_CPUS:-0}
ACCEL_PORT=18080
NGINX_PORT=18081
HAPROXY_PORT=18082
VARNISH_PORT=18083
ACCEL_OLD_PORT=18088 # as in cache-lib.sh
ORIGIN_PORT=18090
WAIT_S=10 # how long a server may take to accept

read -r -a CACHES <<<"${CACHES:-accel nginx haproxy}"
TARGETS=(origin)
declare -A WANT=()
for t in "${CACHES[@]}"; do
    [[ $t =~ ^(accel|accel-old|nginx|haproxy|varnish)$ ]] || {
        echo "proxy-bench: CACHES takes accel, accel-old, nginx, haproxy, varnish (got '$t')" >&2
        exit 1
    }
    [[ -n ${WANT[$t]:-} ]] || TARGETS+=("$t")
    WANT[$t]=1
    # ACCEL_OLD: the old binary right after accel (as cache-lib.sh's with_accel_old)
    if [[ $t == accel && -n ${ACCEL_OLD:-} && " ${CACHES[*]} " != *" accel-old "* ]]; then
        TARGETS+=(accel-old)
        WANT[accel-old]=1
    fi
done
declare -A PORT=([origin]=$ORIGIN_PORT [accel]=$ACCEL_PORT [nginx]=$NGINX_PORT [haproxy]=$HAPROXY_PORT
    [varnish]=$VARNISH_PORT [accel-old]=$ACCEL_OLD_PORT)
declare -A ENABLED=() NOTE=() RPS=() P99=() ERRS=() PID=() SEEN=() REQS=() PEAK=() CPU=()
PIDS=()

die() {
    echo "proxy-bench: $*" >&2
    exit 1
}
note() { echo "proxy-bench: $*" >&2; }

# ---- set-up checks ------------------------------------------------------------------------
command -v wrk >/dev/null || die "wrk not found: apt-get install wrk"
command -v curl >/dev/null || die "curl not found: apt-get install curl"
[[ -x $ORIGIN_BIN ]] || die "$ORIGIN_BIN not found: build first (cmake -B build && cmake --build build -j2)"
[[ $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || die "DURATION must be a number of seconds"
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -gt 0 ]] || die "ROUNDS must be a positive number"
[[ $WORKERS =~ ^[0-9]+$ && $WORKERS -gt 0 ]] || die "WORKERS must be a positive number"

PIN_PROXY=() PIN_LOAD=()
if command -v taskset >/dev/null; then
    PIN_PROXY=(taskset -c "$PROXY_CPUS")
    PIN_LOAD=(taskset -c "$LOAD_CPUS")
    PINNING="proxies on CPU $PROXY_CPUS; wrk and accel-origin on CPU $LOAD_CPUS"
else
    PINNING="not pinned (taskset not found)"
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for t in "${TARGETS[@]}"; do
    port_open "${PORT[$t]}" && die "port ${PORT[$t]} ($t) is already in use: stop whatever listens there"
done

TMP=$(mktemp -d /tmp/accel-proxy-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP" # nginx workers may run as nobody

cleanup() {
    local pid i
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        echo "proxy-bench: configs and logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until <port> accepts and <pid> still runs; bounded by WAIT_S.
wait_port() {
    local pid=$1 port=$2 i
    for ((i = 0; i < WAIT_S * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_open "$port" && return 0
        sleep 0.1
    done
    return 1
}

# Checks that <target> answers the benchmark URL with 200 and the full body from the origin.
check_proxy() {
    local t=$1 size=$2 out
    out=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:${PORT[$t]}/pass?size=$size&cc=no-store") || return 1
    [[ $out == "200 $size" ]]
}

origin_requests() {
    curl -s -m 5 "http://127.0.0.1:$ORIGIN_PORT/__stats" | sed -n 's/^{"requests": \([0-9]*\).*/\1/p'
}

start() { # start <target> <log> <command...>: runs it in the background, records its pid
    local t=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    PIDS+=($!)
    PID[$t]=$!
    if wait_port $! "${PORT[$t]}"; then
        ENABLED[$t]=1
        return 0
    fi
    NOTE[$t]="did not come up on port ${PORT[$t]} within ${WAIT_S}s (log: $(tail -n 3 "$log" | tr '\n' ' '))"
    return 1
}

# ---- origin --------------------------------------------------------------------------------
start origin "$TMP/origin.log" "${PIN_LOAD[@]}" "$ORIGIN_BIN" -t 1 -l "127.0.0.1:$ORIGIN_PORT" ||
    die "accel-origin: ${NOTE[origin]}"

# ---- accel (and accel-old: ACCEL_OLD with the same config) -------------------------------------
for t in accel accel-old; do
    bin=$ACCEL_BIN
    [[ $t == accel-old ]] && bin=${ACCEL_OLD:-}
    if [[ -z ${WANT[$t]:-} ]]; then
        :
    elif [[ -z $bin ]]; then
        NOTE[$t]="ACCEL_OLD is not set (the path of the old accel binary)"
    elif [[ -x $bin ]]; then
        cat >"$TMP/$t.conf" <<EOF
# generated by bench/proxy-bench.sh: pass-through, no cache involved (the URL says no-store)
listen 127.0.0.1:${PORT[$t]}
workers $WORKERS
origin 127.0.0.1:$ORIGIN_PORT
error_log $TMP/$t-error.log warn
access_log off
EOF
        start "$t" "$TMP/$t.out" "${PIN_PROXY[@]}" "$bin" -c "$TMP/$t.conf"
    else
        NOTE[$t]="not built ($bin missing)"
    fi
done

# ---- nginx ---------------------------------------------------------------------------------
if [[ -z ${WANT[nginx]:-} ]]; then
    :
elif command -v nginx >/dev/null; then
    mkdir -p "$TMP/nginx/logs"
    cat >"$TMP/nginx/nginx.conf" <<EOF
# generated by bench/proxy-bench.sh
daemon off;
worker_processes $WORKERS;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
            # a 64 KiB answer fits in memory: no temp file on the proxy's path
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
            proxy_busy_buffers_size 32k;
        }
    }
}
EOF
    start nginx "$TMP/nginx.out" "${PIN_PROXY[@]}" nginx -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" \
        -e "$TMP/nginx/logs/error.log"
else
    NOTE[nginx]="not installed (apt-get install nginx-light)"
fi

# ---- HAProxy -------------------------------------------------------------------------------
if [[ -z ${WANT[haproxy]:-} ]]; then
    :
elif command -v haproxy >/dev/null; then
    cat >"$TMP/haproxy.cfg" <<EOF
# generated by bench/proxy-bench.sh
global
    nbthread $WORKERS
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend origin
backend origin
    server o1 127.0.0.1:$ORIGIN_PORT
EOF
    start haproxy "$TMP/haproxy.out" "${PIN_PROXY[@]}" haproxy -db -f "$TMP/haproxy.cfg"
else
    NOTE[haproxy]="not installed (apt-get install haproxy)"
fi

# ---- Varnish (only if CACHES names it) -----------------------------------------------------------
# As cache-lib.sh starts it for the cache benchmarks: the VCL names the origin, the built-in VCL
# does the rest; for a no-store answer that is a hit-for-miss object, so later requests for the
# URL go straight to the origin without waiting on each other.
if [[ -z ${WANT[varnish]:-} ]]; then
    :
elif command -v varnishd >/dev/null; then
    cat >"$TMP/varnish.vcl" <<EOF
# generated by bench/proxy-bench.sh
vcl 4.1;
backend origin {
    .host = "127.0.0.1";
    .port = "$ORIGIN_PORT";
}
EOF
    chmod 644 "$TMP/varnish.vcl"
    start varnish "$TMP/varnish.out" "${PIN_PROXY[@]}" varnishd -F -n "$TMP/varnish" \
        -a "127.0.0.1:$VARNISH_PORT" -T none -f "$TMP/varnish.vcl" -s malloc,256m \
        -p thread_pools=1 -p listen_depth=4096
else
    NOTE[varnish]="not installed (apt-get install varnish)"
fi

# A proxy that is up but does not pass the URL through correctly is left out, with a note.
for t in "${TARGETS[@]}"; do
    [[ -n ${ENABLED[$t]:-} ]] || continue
    for size in $SIZES; do
        if ! check_proxy "$t" "$size"; then
            NOTE[$t]="does not answer /pass?size=$size with 200 and $size bytes; left out"
            unset "ENABLED[$t]"
            break
        fi
    done
done

# ---- load ----------------------------------------------------------------------------------
to_ms() { # wrk latency ("812.00us", "4.51ms", "1.02s") -> ms
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}

run_wrk() { # run_wrk <target> <size> <seconds>: prints "rps p99_ms errors requests"
    local t=$1 size=$2 secs=$3 out rps p99 errs reqs
    out=$(timeout $((secs + 20)) "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${secs}s" --latency \
        "http://127.0.0.1:${PORT[$t]}/pass?size=$size&cc=no-store" 2>&1) || {
        echo "0 0 F 0"
        return
    }
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    errs=$(awk '/Socket errors:/ {gsub(",", ""); s += $4 + $6 + $8 + $10} /Non-2xx/ {s += $NF}
        END {print s + 0}' <<<"$out")
    echo "${rps:-0} $(to_ms "${p99:-0}") $errs ${reqs:-0}"
}

# Peak resident memory of <pid> and its descendants (as in cache-lib.sh): rss_peak_reset sets their
# high-water marks back to their current RSS, rss_peak_kb sums their VmHWM in KiB.
rss_peak_reset() {
    local child
    { echo 5 >"/proc/$1/clear_refs"; } 2>/dev/null
    for child in $(pgrep -P "$1" 2>/dev/null); do
        rss_peak_reset "$child"
    done
    return 0
}
rss_peak_kb() {
    local total=0 kb child
    kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null)
    total=$((total + ${kb:-0}))
    for child in $(pgrep -P "$1" 2>/dev/null); do
        total=$((total + $(rss_peak_kb "$child")))
    done
    echo "$total"
}

# CPU time of <pid> and its descendants in clock ticks (utime + stime, as in cache-lib.sh), and
# CPU ms per 1000 requests from two samples around a run.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_ticks() {
    local total=0 t child
    t=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}')
    total=$((total + ${t:-0}))
    for child in $(pgrep -P "$1" 2>/dev/null); do
        total=$((total + $(cpu_ticks "$child")))
    done
    echo "$total"
}
cpu_per_1k() { # cpu_per_1k <ticks before> <ticks after> <requests>
    awk -v a="${1:-}" -v b="${2:-}" -v n="${3:-0}" -v hz="$CLK_TCK" 'BEGIN {
        if (a == "" || b == "" || n + 0 <= 0 || b + 0 < a + 0) print "-"
        else printf "%.2f", (b - a) * 1000 / hz / n * 1000 }'
}
mean_known() { # the mean of the values that are not "-", or "-"
    awk '{ s = 0; n = 0; for (i = 1; i <= NF; i++) if ($i != "-") { s += $i; n++ }
        if (n) printf "%.2f", s / n; else print "-" }' <<<"$1"
}

human() { # bytes -> 1KiB / 64KiB / 1MiB
    local b=$1
    if ((b % 1048576 == 0)); then
        echo "$((b / 1048576))MiB"
    elif ((b % 1024 == 0)); then
        echo "$((b / 1024))KiB"
    else
        echo "${b}B"
    fi
}

RESULTS_DIR="$ROOT/bench/results"
mkdir -p "$RESULTS_DIR"
STAMP=$(date +%Y%m%d-%H%M%S)
REPORT="$RESULTS_DIR/proxy-$STAMP.txt"
RAW="$TMP/raw.txt"
: >"$RAW"

ACTIVE=()
for t in "${TARGETS[@]}"; do
    [[ -n ${ENABLED[$t]:-} ]] && ACTIVE+=("$t")
done
echo "proxy-bench: targets ${ACTIVE[*]}; $ROUNDS round(s) x $(wc -w <<<"$SIZES") size(s) x ${DURATION}s each" >&2

if ((WARMUP > 0)); then
    for t in "${ACTIVE[@]}"; do
        run_wrk "$t" 1024 "$WARMUP" >/dev/null
    done
fi

for size in $SIZES; do
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in "${ACTIVE[@]}"; do
            curl -s -m 5 -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/__reset"
            [[ $t != origin ]] && rss_peak_reset "${PID[$t]}"
            c0=""
            [[ $t != origin ]] && c0=$(cpu_ticks "${PID[$t]}")
            read -r rps p99 errs reqs < <(run_wrk "$t" "$size" "$DURATION")
            c1=""
            [[ $t != origin ]] && c1=$(cpu_ticks "${PID[$t]}")
            cpu=$(cpu_per_1k "$c0" "$c1" "$reqs")
            seen=$(origin_requests)
            peak=0
            [[ $t != origin ]] && peak=$(rss_peak_kb "${PID[$t]}")
            printf 'round %d  %-9s %-6s %12s req/s  p99 %9s ms  cpu %s ms/1k  errors %s  requests %s  origin saw %s  peak RSS %s KiB\n' \
                "$r" "$t" "$(human "$size")" "$rps" "$p99" "$cpu" "$errs" "$reqs" "${seen:-?}" "$peak" | tee -a "$RAW" >&2
            k="$t/$size"
            CPU[$k]="${CPU[$k]:-} $cpu"
            RPS[$k]="${RPS[$k]:-} $rps"
            P99[$k]="${P99[$k]:-} $p99"
            REQS[$k]="${REQS[$k]:-} $reqs"
            SEEN[$k]="${SEEN[$k]:-} ${seen:-0}"
            ((peak > ${PEAK[$k]:-0})) && PEAK[$k]=$peak
            if [[ $errs == F ]]; then
                NOTE[$t]="wrk failed or timed out in a run (counted as 0 req/s)"
                errs=0
            fi
            ERRS[$k]=$((${ERRS[$k]:-0} + errs))
            # a pass-through proxy sends every request on; fewer at the origin means a cache answered
            if [[ $t != origin && -n $seen && $reqs -gt 0 && $seen -lt $((reqs * 99 / 100)) ]]; then
                NOTE[$t]="origin saw fewer requests than wrk sent ($seen < $reqs): not pure pass-through"
            fi
            sleep 1
        done
    done
done

mean() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.1f", NF ? s / NF : 0 }' <<<"$1"; }

{
    echo "accel proxy-bench: pass-through proxying (no cache), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "URL: GET /pass?size=N&cc=no-store (uncacheable); wrk -t1 -c$CONNS -d${DURATION}s --latency;" \
        "$ROUNDS interleaved round(s); req/s and p99 are means over the rounds"
    echo "workers per proxy: $WORKERS; CPU pinning: $PINNING"
    echo "machine: $(nproc) CPU(s), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r)"
    vv="" # Varnish's version, when it ran
    [[ -n ${WANT[varnish]:-} ]] && vv="$(varnishd -V 2>&1 | head -n 1 | sed 's/ (\(varnish-[0-9.]*\).*/ \1/; s/^varnishd //'); "
    echo "versions: accel $("$ACCEL_BIN" -V 2>/dev/null | head -n 1 || echo '-');" \
        "$(nginx -v 2>&1 | sed 's/^nginx version: //');" \
        "$vv$(haproxy -v 2>/dev/null | head -n 1 | awk '{print "haproxy " $3}'); $(wrk -v 2>&1 | head -n 1 | awk '{print "wrk " $2}')"
    if [[ -n ${WANT[accel-old]:-} && -n ${ACCEL_OLD:-} ]]; then
        oldrev=${ACCEL_OLD_REV:-}
        [[ -z $oldrev && -r $(dirname "$ACCEL_OLD")/REVISION ]] &&
            oldrev=$(awk '{ $1 = ""; sub(/^ /, ""); print; exit }' "$(dirname "$ACCEL_OLD")/REVISION")
        echo "versions: accel-old: $("$ACCEL_OLD" -V 2>/dev/null | head -n 1 || echo '-')" \
            "(${oldrev:-commit unknown}, $ACCEL_OLD, binary of $(date -r "$ACCEL_OLD" '+%Y-%m-%d %H:%M' 2>/dev/null))"
    fi
    echo
    printf '%-18s %-6s %12s %10s %10s %9s %7s\n' proxy size "req/s" "p99 ms" "cpu ms/1k" "vs accel" errors
    for size in $SIZES; do
        base=""
        [[ -n ${RPS[accel/$size]:-} ]] && base=$(mean "${RPS[accel/$size]}")
        for t in "${ACTIVE[@]}"; do
            k="$t/$size"
            m=$(mean "${RPS[$k]}")
            ratio="-"
            if [[ -n $base ]] && awk -v b="$base" 'BEGIN {exit !(b > 0)}'; then
                ratio=$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2fx", a / b}')
            fi
            name=$t
            [[ $t == origin ]] && name="origin (direct)"
            printf '%-18s %-6s %12s %10s %10s %9s %7s\n' "$name" "$(human "$size")" "$m" \
                "$(mean "${P99[$k]}")" "$(mean_known "${CPU[$k]}")" "$ratio" "${ERRS[$k]}"
        done
    done
    echo
    echo "'vs accel' is req/s relative to accel at the same size (above 1 = faster than accel)."
    echo "'origin (direct)' is wrk straight to accel-origin, both on CPU $LOAD_CPUS: the most the load side can drive."
    echo "'cpu ms/1k' is the proxy's CPU time (utime + stime of its processes, /proc/<pid>/stat, sampled just"
    echo "before and after each run) per 1000 requests, mean over the rounds."
    for t in "${TARGETS[@]}"; do
        [[ -n ${NOTE[$t]:-} ]] && echo "note: $t: ${NOTE[$t]}"
    done
    echo
    echo "runs:"
    cat "$RAW"
} | tee "$REPORT"

# The same rows, machine-readable, in the columns every cache benchmark's .tsv starts with (req_s and
# p99_ms means over the rounds; origin_reqs and requests per run, means over the rounds; hit_ratio =
# 1 - origin requests / requests answered over all rounds, 0 for a pass-through (the origin may count
# a few more requests than wrk: those still in flight when wrk stopped); peak_rss_mib the
# highest VmHWM of the proxy's processes, summed, during one of its runs), then its own; "-" where a
# field does not apply ("origin" is wrk straight to the origin).
short() { # bytes -> 1k / 64k / 1m
    if (($1 % 1048576 == 0)); then echo "$(($1 / 1048576))m"; elif (($1 % 1024 == 0)); then echo "$(($1 / 1024))k"; else echo "$1"; fi
}
total() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%d", s }' <<<"$1"; }
spread() { # half the range of the values, in % of their mean (as in cache-lib.sh)
    awk '{ s = 0; lo = ""; hi = ""
        for (i = 1; i <= NF; i++) { s += $i; if (lo == "" || $i + 0 < lo) lo = $i + 0; if (hi == "" || $i + 0 > hi) hi = $i + 0 }
        if (NF < 2 || s == 0) print "-"; else printf "%.0f%%", 50 * (hi - lo) / (s / NF) }' <<<"$1"
}
TSV="${REPORT%.txt}.tsv"
{
    printf 'scenario\tcache\treq_s\tp99_ms\thit_ratio\torigin_reqs\tpeak_rss_mib\tsize\terrors\trequests\trounds\treq_s_spread\tcpu_ms_per_1k\n'
    for size in $SIZES; do
        for t in "${ACTIVE[@]}"; do
            k="$t/$size"
            hitr="-" seen="-" peak="-"
            if [[ $t != origin ]]; then
                hitr=$(awk -v o="$(total "${SEEN[$k]}")" -v n="$(total "${REQS[$k]}")" \
                    'BEGIN {if (n > 0) { h = 1 - o / n; printf "%.3f", h < 0 ? 0 : h } else print "-"}')
                seen=$(mean "${SEEN[$k]}")
                peak=$(awk -v kb="${PEAK[$k]:-0}" 'BEGIN {if (kb > 0) printf "%.1f", kb / 1024; else print "-"}')
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "pass-$(short "$size")" "$t" "$(mean "${RPS[$k]}")" \
                "$(mean "${P99[$k]}")" "$hitr" "$seen" "$peak" "$size" "${ERRS[$k]}" "$(mean "${REQS[$k]}")" \
                "$(wc -w <<<"${RPS[$k]}")" "$(spread "${RPS[$k]}")" "$(mean_known "${CPU[$k]}")"
        done
    done
} >"$TSV"
echo "proxy-bench: written to ${REPORT#"$ROOT"/} (and ${TSV#"$ROOT"/})" >&2
