# cache-lib.sh - shared by hit-bench.sh, coalesce-bench.sh, zipf-bench.sh and restart-bench.sh
# (sourced, not run): fixed loopback ports, CPU pinning, bounded start-up, cleanup at exit, the
# origin's counters, wrk output parsing, and one generated config per cache (accel, nginx, Varnish,
# HAProxy) so the scripts configure every competitor the same way.
#
# The sourcing script sets BENCH (its name, for messages) and may preset the knobs below; then it
# calls bench_init, starts the servers it needs with start_origin / start_<cache> / start_fixed,
# and reads ENABLED, NOTE and PORT. Every server started here is stopped at exit.
# Optional knobs, defaults unchanged for every script: WAIT_STEP_MS (100: how often a server being
# started is polled), STOP_WAIT_S (5: how long stop() waits after SIGTERM before SIGKILL; it leaves
# the exit status in STOP_RC), ACCEL_SRC (the source tree the accel binary was built from, for the
# commit in the report; default: this repository). Extra configuration, appended only when set (so
# the generated configs of the other scripts are unchanged): ACCEL_CONF_EXTRA (lines for accel.conf),
# NGINX_CONF_EXTRA (lines inside nginx's http {} block), HAPROXY_FRONTEND_EXTRA (lines inside
# HAProxy's frontend, e.g. a second bind), VARNISH_VCL_EXTRA (VCL appended after the
# backend), VARNISH_PARAMS (more varnishd arguments, split on spaces: "-p gzip_level=6").
# start_accel takes an optional second argument, the target name (default accel), for a second
# accel with its own PORT[name], config and logs.
# ACCEL_OLD=/path/to/accel (an older build, e.g. from bench/build-rev.sh; relative to the caller's
# directory) adds the target accel-old: that binary with the same generated config, on port 18088,
# listed right after accel by with_accel_old; start_cache <target> <mib> starts any target. CPU:
# cpu_ticks <pid> (utime + stime of a server's processes) and cpu_per_1k turn two samples around a
# run into CPU ms per 1000 requests.
# shellcheck shell=bash disable=SC2034  # the sourcing scripts read what is set here

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -n ${ACCEL_OLD:-} && $ACCEL_OLD != /* ]] && ACCEL_OLD=$PWD/$ACCEL_OLD
cd "$ROOT" || exit 1

ACCEL_BIN=${ACCEL_BIN:-build/accel}
ORIGIN_BIN=${ORIGIN_BIN:-build/accel-origin}
FIXED_BIN=${FIXED_BIN:-build/accel-fixed}
WORKERS=${WORKERS:-1}
PROXY_CPUS=${PROXY_CPUS:-1}
LOAD_CPUS=${LOAD_CPUS:-0}
WAIT_S=10 # how long a server may take to accept

ACCEL_PORT=18080
NGINX_PORT=18081
HAPROXY_PORT=18082
VARNISH_PORT=18083
FIXED_PORT=18084 # accel-fixed: one per body size, on 18084, 18085, ...
ACCEL_OLD_PORT=18088 # ACCEL_OLD (18087 is gzip-bench's second accel)
ORIGIN_PORT=18090

declare -A PORT=([origin]=$ORIGIN_PORT [accel]=$ACCEL_PORT [nginx]=$NGINX_PORT
    [haproxy]=$HAPROXY_PORT [varnish]=$VARNISH_PORT [accel-old]=$ACCEL_OLD_PORT)
declare -A ENABLED=() NOTE=() PID=() LOG=()
PIDS=()

die() {
    echo "$BENCH: $*" >&2
    exit 1
}
note() { echo "$BENCH: $*" >&2; }

add_note() { # add_note <target> <text>: appends to NOTE[<target>], once per distinct text
    [[ ${NOTE[$1]:-} == *"$2"* ]] && return 0
    NOTE[$1]="${NOTE[$1]:+${NOTE[$1]}; }$2"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

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
        echo "$BENCH: configs and logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}

# Checks the tools and knobs, sets up pinning and the temporary directory, refuses busy ports.
bench_init() {
    local p
    command -v wrk >/dev/null || die "wrk not found: apt-get install wrk"
    command -v curl >/dev/null || die "curl not found: apt-get install curl"
    [[ -x $ORIGIN_BIN ]] || die "$ORIGIN_BIN not found: build first (cmake -B build && cmake --build build -j2)"
    [[ $WORKERS =~ ^[0-9]+$ && $WORKERS -gt 0 ]] || die "WORKERS must be a positive number"

    PIN_PROXY=() PIN_LOAD=()
    if command -v taskset >/dev/null; then
        PIN_PROXY=(taskset -c "$PROXY_CPUS")
        PIN_LOAD=(taskset -c "$LOAD_CPUS")
        PINNING="caches on CPU $PROXY_CPUS; load generator and accel-origin on CPU $LOAD_CPUS"
    else
        PINNING="not pinned (taskset not found)"
    fi
    for p in "$ACCEL_PORT" "$NGINX_PORT" "$HAPROXY_PORT" "$VARNISH_PORT" "$ORIGIN_PORT" \
        "$FIXED_PORT" $((FIXED_PORT + 1)) $((FIXED_PORT + 2)) "$ACCEL_OLD_PORT"; do
        port_open "$p" && die "port $p is already in use: stop whatever listens there"
    done
    TMP=$(mktemp -d "/tmp/accel-$BENCH.XXXXXX") || die "mktemp failed"
    chmod 755 "$TMP" # nginx workers run as nobody, varnish's child as vcache
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    RESULTS_DIR="$ROOT/bench/results"
    mkdir -p "$RESULTS_DIR"
    STAMP=$(date +%Y%m%d-%H%M%S)
    LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg) # a busy box (a build beside us) makes every number noise
    VERSIONS=$(versions)                      # now, before anyone rebuilds the binary under us
}

# Waits until <port> accepts and <pid> still runs; bounded by WAIT_S.
wait_port() {
    local pid=$1 port=$2 i step=${WAIT_STEP_MS:-100}
    for ((i = 0; i < WAIT_S * 1000 / step; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_open "$port" && return 0
        sleep "$((step / 1000)).$(printf '%03d' $((step % 1000)))"
    done
    return 1
}

start() { # start <target> <log> <command...>: runs it in the background, records its pid
    local t=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    PIDS+=($!)
    PID[$t]=$!
    LOG[$t]=$log
    if wait_port $! "${PORT[$t]}"; then
        ENABLED[$t]=1
        return 0
    fi
    NOTE[$t]="did not come up on port ${PORT[$t]} within ${WAIT_S}s (log: $(tail -n 3 "$log" | tr '\n' ' '))"
    return 1
}

# Returns 0 if <target> still runs; otherwise records how it ended (exit status or signal, the end
# of its log) in NOTE[<target>], disables it and returns 1. A cache must never die under load.
check_alive() {
    local t=$1 pid=${PID[$1]:-} rc how
    [[ -n $pid ]] || return 1
    kill -0 "$pid" 2>/dev/null && return 0
    wait "$pid" 2>/dev/null
    rc=$?
    how="exit status $rc"
    ((rc > 128)) && how="killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null))"
    add_note "$t" "DIED during the run: $how; last log lines: $(tail -n 5 "${LOG[$t]:-/dev/null}" | tr '\n' ' ')"
    unset "PID[$t]" "ENABLED[$t]"
    return 1
}

# Stops one target started by start() (bounded: STOP_WAIT_S, then SIGKILL), so the next run of it
# starts cold; STOP_RC is its exit status (137: it had to be killed).
stop() {
    local t=$1 pid=${PID[$1]:-} i
    STOP_RC=
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < ${STOP_WAIT_S:-5} * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    STOP_RC=$?
    unset "PID[$t]" "ENABLED[$t]"
    local keep=() p
    for p in "${PIDS[@]}"; do
        [[ $p != "$pid" ]] && keep+=("$p")
    done
    PIDS=("${keep[@]}")
    for ((i = 0; i < 50; i++)); do
        port_open "${PORT[$t]}" || break
        sleep 0.1
    done
}

# ---- the origin and its counters -------------------------------------------------------------
start_origin() {
    start origin "$TMP/origin.log" "${PIN_LOAD[@]}" "$ORIGIN_BIN" -t 1 -l "127.0.0.1:$ORIGIN_PORT" ||
        die "accel-origin: ${NOTE[origin]}"
}

origin_reset() { curl -s -m 5 -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/__reset"; }

origin_requests() { # all requests since the last reset
    curl -s -m 5 "http://127.0.0.1:$ORIGIN_PORT/__stats" | sed -n 's/^{"requests": \([0-9]*\).*/\1/p'
}

origin_path_count() { # origin_path_count <path>: requests for that path since the last reset
    curl -s -m 5 "http://127.0.0.1:$ORIGIN_PORT/__stats" |
        grep -o "\"$1\": [0-9]*" | awk '{print $2} END {if (NR == 0) print 0}' | head -n 1
}

# ---- the caches --------------------------------------------------------------------------------
# Each start_<cache> takes the cache's memory budget in MiB, writes its config into $TMP and starts
# it on its port, pinned to PROXY_CPUS; on failure it leaves a NOTE and the target disabled.

# start_accel <mib> [<target>, default accel: a second accel needs PORT[<target>]] [<binary>,
# default ACCEL_BIN]
start_accel() {
    local mib=$1 t=${2:-accel} bin=${3:-$ACCEL_BIN}
    if [[ ! -x $bin ]]; then
        NOTE[$t]="not built ($bin missing)"
        return 1
    fi
    cat >"$TMP/$t.conf" <<EOF
# generated by bench/$BENCH.sh
listen 127.0.0.1:${PORT[$t]}
workers $WORKERS
origin 127.0.0.1:$ORIGIN_PORT
cache_memory ${mib}m
error_log $TMP/$t-error.log warn
access_log off
EOF
    # ACCEL_DISK_MIB=N adds the disk tier, N MiB, in the run's temporary directory
    if [[ -n ${ACCEL_DISK_MIB:-} ]]; then
        echo "cache_disk $TMP/$t-cache.mdb ${ACCEL_DISK_MIB}m" >>"$TMP/$t.conf"
    fi
    # No compression unless a script asks (gzip-bench.sh does): the other caches here do not
    # compress either, and accel's gzip on would keep an inflated twin beside each gzip object for
    # wrk, which sends no Accept-Encoding (see bench/README.md, gzip-bench.sh).
    if [[ ${ACCEL_CONF_EXTRA:-} != *gzip* ]]; then
        echo "gzip off" >>"$TMP/$t.conf"
    fi
    if [[ -n ${ACCEL_CONF_EXTRA:-} ]]; then
        printf '%s\n' "$ACCEL_CONF_EXTRA" >>"$TMP/$t.conf"
    fi
    start "$t" "$TMP/$t.out" "${PIN_PROXY[@]}" "$bin" -c "$TMP/$t.conf"
}

# with_accel_old <cache...>: prints the caches one a line, with accel-old right after accel when
# ACCEL_OLD is set (and accel-old is not named already), so every scenario runs the old binary too.
with_accel_old() {
    local t
    for t in "$@"; do
        echo "$t"
        if [[ $t == accel && -n ${ACCEL_OLD:-} && " $* " != *" accel-old "* ]]; then
            echo accel-old
        fi
    done
}

start_cache() { # start_cache <target> <mib>: start_accel / start_nginx / ... for <target>
    case $1 in
    accel-old)
        if [[ -z ${ACCEL_OLD:-} ]]; then
            NOTE[accel-old]="ACCEL_OLD is not set (the path of the old accel binary)"
            return 1
        fi
        start_accel "$2" accel-old "$ACCEL_OLD"
        ;;
    accel | nginx | varnish | haproxy) "start_$1" "$2" ;;
    *) return 1 ;;
    esac
}

start_nginx() {
    local mib=$1
    if ! command -v nginx >/dev/null; then
        NOTE[nginx]="not installed (apt-get install nginx-light)"
        return 1
    fi
    rm -rf "$TMP/nginx"
    mkdir -p "$TMP/nginx/logs" "$TMP/nginx/cache" "$TMP/nginx/temp"
    chown nobody "$TMP/nginx/cache" "$TMP/nginx/temp" 2>/dev/null
    local extra=""
    [[ -n ${NGINX_CONF_EXTRA:-} ]] && extra=$'\n'"$NGINX_CONF_EXTRA"
    cat >"$TMP/nginx/nginx.conf" <<EOF
# generated by bench/$BENCH.sh
daemon off;
worker_processes $WORKERS;
worker_rlimit_nofile 65536;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    sendfile on; # tcp_nopush on (Debian's default) stalls 64 KiB hits for 40 ms on loopback
    keepalive_requests 1000000;
    proxy_temp_path $TMP/nginx/temp;
    proxy_cache_path $TMP/nginx/cache levels=1:2 keys_zone=z:10m max_size=${mib}m inactive=1h
                     use_temp_path=off;$extra
    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache z;
            proxy_cache_valid 200 10m;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 5s;
            add_header X-Cache \$upstream_cache_status always;
        }
    }
}
EOF
    start nginx "$TMP/nginx.out" "${PIN_PROXY[@]}" nginx -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" \
        -e "$TMP/nginx/logs/error.log"
}

start_varnish() {
    local mib=$1
    if ! command -v varnishd >/dev/null; then
        NOTE[varnish]="not installed (apt-get install varnish)"
        return 1
    fi
    rm -rf "$TMP/varnish"
    cat >"$TMP/varnish.vcl" <<EOF
# generated by bench/$BENCH.sh: the built-in VCL does the rest (it caches a GET without cookies
# for the origin's Cache-Control max-age)
vcl 4.1;
backend origin {
    .host = "127.0.0.1";
    .port = "$ORIGIN_PORT";
}
EOF
    if [[ -n ${VARNISH_VCL_EXTRA:-} ]]; then
        printf '%s\n' "$VARNISH_VCL_EXTRA" >>"$TMP/varnish.vcl"
    fi
    chmod 644 "$TMP/varnish.vcl"
    local params=()
    read -r -a params <<<"${VARNISH_PARAMS:-}"
    start varnish "$TMP/varnish.out" "${PIN_PROXY[@]}" varnishd -F -n "$TMP/varnish" \
        -a "127.0.0.1:$VARNISH_PORT" -T none -f "$TMP/varnish.vcl" -s "malloc,${mib}m" \
        -p thread_pools=1 -p listen_depth=4096 "${params[@]}"
}

start_haproxy() {
    local mib=$1 objmax
    if ! command -v haproxy >/dev/null; then
        NOTE[haproxy]="not installed (apt-get install haproxy)"
        return 1
    fi
    # max-object-size must stay below half of total-max-size; 2 MiB fits a 1 MiB body and head
    objmax=$((mib * 1048576 / 2 - 1))
    ((objmax > 2097152)) && objmax=2097152
    cat >"$TMP/haproxy.cfg" <<EOF
# generated by bench/$BENCH.sh
global
    nbthread $WORKERS
    maxconn 8192
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
cache c
    total-max-size $mib
    max-object-size $objmax
    max-age 3600
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT${HAPROXY_FRONTEND_EXTRA:+
$HAPROXY_FRONTEND_EXTRA}
    default_backend origin
backend origin
    http-request cache-use c
    http-response cache-store c
    server o1 127.0.0.1:$ORIGIN_PORT
EOF
    start haproxy "$TMP/haproxy.out" "${PIN_PROXY[@]}" haproxy -db -f "$TMP/haproxy.cfg"
}

start_fixed() { # start_fixed <target> <port> <bytes>
    local t=$1 port=$2 bytes=$3
    if [[ ! -x $FIXED_BIN ]]; then
        NOTE[$t]="not built ($FIXED_BIN missing)"
        return 1
    fi
    PORT[$t]=$port
    start "$t" "$TMP/${t//\//-}.out" "${PIN_PROXY[@]}" "$FIXED_BIN" -l "127.0.0.1:$port" -s "$bytes"
}

# Resident memory of <pid> and all its descendants, in KiB (nginx workers, varnish's child).
rss_kb() {
    local pid=$1 total=0 kb child
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    total=$((total + ${kb:-0}))
    for child in $(pgrep -P "$pid" 2>/dev/null); do
        total=$((total + $(rss_kb "$child")))
    done
    echo "$total"
}

# Peak resident memory. rss_peak_reset <pid> sets the high-water mark (VmHWM) of <pid> and all its
# descendants back to their current RSS (/proc/<pid>/clear_refs, Linux >= 4.0; silently nothing
# where that is not allowed, and then the peak counts from the process's start); rss_peak_kb <pid>
# sums their VmHWM in KiB: the peak since the reset, each process's own peak summed (an upper bound
# of the tree's peak when its processes peak at different moments).
rss_peak_reset() {
    local pid=$1 child
    { echo 5 >"/proc/$pid/clear_refs"; } 2>/dev/null
    for child in $(pgrep -P "$pid" 2>/dev/null); do
        rss_peak_reset "$child"
    done
    return 0
}

rss_peak_kb() {
    local pid=$1 total=0 kb child
    kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    total=$((total + ${kb:-0}))
    for child in $(pgrep -P "$pid" 2>/dev/null); do
        total=$((total + $(rss_peak_kb "$child")))
    done
    echo "$total"
}

# CPU time of <pid> and all its descendants, in clock ticks: utime + stime from /proc/<pid>/stat,
# which sums every thread of a process (nginx master and workers, Varnish manager and child,
# HAProxy's one process; masters and managers add next to nothing during a run). Sampled just
# before and just after a run, the difference is the CPU the server spent on that load window.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_ticks() {
    local pid=$1 total=0 t child
    t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}')
    total=$((total + ${t:-0}))
    for child in $(pgrep -P "$pid" 2>/dev/null); do
        total=$((total + $(cpu_ticks "$child")))
    done
    echo "$total"
}

cpu_per_1k() { # cpu_per_1k <ticks before> <ticks after> <requests>: CPU ms per 1000 requests, or -
    awk -v a="${1:-}" -v b="${2:-}" -v n="${3:-0}" -v hz="$CLK_TCK" 'BEGIN {
        if (a == "" || b == "" || n + 0 <= 0 || b + 0 < a + 0) print "-"
        else printf "%.2f", (b - a) * 1000 / hz / n * 1000 }'
}

mean_known() { # mean_known <values>: the mean of the values that are not "-", or "-"
    awk '{ s = 0; n = 0; for (i = 1; i <= NF; i++) if ($i != "-") { s += $i; n++ }
        if (n) printf "%.2f", s / n; else print "-" }' <<<"$1"
}

# ---- wrk -----------------------------------------------------------------------------------------
to_ms() { # wrk latency ("812.00us", "4.51ms", "1.02s") -> ms
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}

# Parses wrk's output on stdin: "rps p50_ms p99_ms errors requests bytes_read"
wrk_parse() {
    local out rps p50 p99 errs reqs bytes
    out=$(cat)
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    bytes=$(awk '/requests in/ {
        v = $(NF - 1) + 0; u = $(NF - 1); sub(/^[0-9.]+/, "", u)
        m = 1; if (u == "KB") m = 1024; else if (u == "MB") m = 1048576; else if (u == "GB") m = 1073741824
        else if (u == "TB") m = 1099511627776
        printf "%.0f", v * m }' <<<"$out")
    errs=$(awk '/Socket errors:/ {gsub(",", ""); s += $4 + $6 + $8 + $10} /Non-2xx/ {s += $NF}
        END {print s + 0}' <<<"$out")
    echo "${rps:-0} $(to_ms "${p50:-0}") $(to_ms "${p99:-0}") $errs ${reqs:-0} ${bytes:-0}"
}

tsv() { # tsv <field...>: one line of tab-separated fields (the scripts' machine-readable .tsv reports)
    local IFS=$'\t'
    echo "$*"
}

spread() { # half the range of the values, in % of their mean: how much the rounds disagree
    awk '{ s = 0; lo = ""; hi = ""
        for (i = 1; i <= NF; i++) { s += $i; if (lo == "" || $i + 0 < lo) lo = $i + 0; if (hi == "" || $i + 0 > hi) hi = $i + 0 }
        if (NF < 2 || s == 0) print "-"; else printf "%.0f%%", 50 * (hi - lo) / (s / NF) }' <<<"$1"
}
mean() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.1f", NF ? s / NF : 0 }' <<<"$1"; }
sum() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%d", s }' <<<"$1"; }

versions() {
    local rev
    local src=${ACCEL_SRC:-$ROOT}
    rev=$(git -C "$src" rev-parse --short HEAD 2>/dev/null)
    [[ -n $(git -C "$src" status --porcelain -- src cache include 2>/dev/null) ]] && rev="$rev+uncommitted"
    echo "versions: accel $("$ACCEL_BIN" -V 2>/dev/null | head -n 1 | awk '{print $NF}') (${rev:-?}, binary of" \
        "$(date -r "$ACCEL_BIN" '+%Y-%m-%d %H:%M' 2>/dev/null));" \
        "$(nginx -v 2>&1 | sed 's/^nginx version: //');" \
        "$(varnishd -V 2>&1 | head -n 1 | sed 's/ (\(varnish-[0-9.]*\).*/ \1/; s/^varnishd //');" \
        "$(haproxy -v 2>/dev/null | head -n 1 | awk '{print "haproxy " $3}'); $(wrk -v 2>&1 | head -n 1 | awk '{print "wrk " $2}')"
    [[ -n ${ACCEL_OLD:-} ]] && echo "versions: accel-old: $(accel_old_version)"
    return 0
}

# accel_old_version: ACCEL_OLD's version, the commit it was built from (the REVISION file that
# bench/build-rev.sh writes beside it, or ACCEL_OLD_REV) and the binary's date.
accel_old_version() {
    local rev=${ACCEL_OLD_REV:-}
    [[ -z $rev && -r $(dirname "$ACCEL_OLD")/REVISION ]] &&
        rev=$(awk '{ $1 = ""; sub(/^ /, ""); print; exit }' "$(dirname "$ACCEL_OLD")/REVISION")
    echo "accel $("$ACCEL_OLD" -V 2>/dev/null | head -n 1 | awk '{print $NF}') (${rev:-commit unknown}," \
        "$ACCEL_OLD, binary of $(date -r "$ACCEL_OLD" '+%Y-%m-%d %H:%M' 2>/dev/null))"
}

machine() {
    echo "machine: $(nproc) CPU(s), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r);" \
        "load average at start: $LOADAVG, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
}
