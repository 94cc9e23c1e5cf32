#!/usr/bin/env bash
# disk-bench.sh - the disk tier: hits served from LMDB (a memory tier far smaller than the working
# set) as a ratio of hits served from memory, and a warm restart.
#
#   1. accel with cache_memory 256m and cache_disk: wrk fills KEYS objects of SIZE bytes (uniform
#      keys), then measures: every answer is a memory hit.
#   2. SIGTERM, restart with cache_memory 1m on the same file: the same load, now mostly hits
#      promoted from disk. The origin must see no request at all after the restart.
#
# Usage: bench/disk-bench.sh (build first). Knobs: ACCEL_BIN, ORIGIN_BIN, KEYS=5000, SIZE=1024,
# DURATION=5, CONNS=64, PROXY_CPUS=1, LOAD_CPUS=0. Loopback only, every run bounded in time.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
ACCEL_BIN=${ACCEL_BIN:-build/accel}
ORIGIN_BIN=${ORIGIN_BIN:-build/accel-origin}
KEYS=${KEYS:-5000}
SIZE=${SIZE:-1024}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
PROXY_CPUS=${PROXY_CPUS:-1}
LOAD_CPUS=${LOAD_CPUS:-0}
ACCEL_PORT=18180
ORIGIN_PORT=18190
TMP=$(mktemp -d /tmp/accel-disk-bench.XXXXXX)
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
die() {
    echo "disk-bench: $*" >&2
    exit 1
}
wait_port() { # bounded: 10 s
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    die "nothing listens on port $1"
}
origin_requests() { curl -s "http://127.0.0.1:$ORIGIN_PORT/__stats" | sed -n 's/.*"requests": *\([0-9]*\).*/\1/p'; }
load() { # load <seconds> -> req/s
    ZIPF_S=0 ZIPF_KEYS=$KEYS ZIPF_SIZE=$SIZE taskset -c "$LOAD_CPUS" \
        wrk -t1 -c"$CONNS" -d"$1"s -s bench/zipf.lua "http://127.0.0.1:$ACCEL_PORT" |
        awk '/Requests\/sec/ {print $2}'
}
start_accel() { # start_accel <memory>
    cat >"$TMP/accel.conf" <<EOF
listen 127.0.0.1:$ACCEL_PORT
workers 1
origin 127.0.0.1:$ORIGIN_PORT
error_log $TMP/error.log warn
cache_memory $1
cache_disk $TMP/cache.mdb 1g
EOF
    taskset -c "$PROXY_CPUS" "$ACCEL_BIN" -c "$TMP/accel.conf" &
    ACCEL_PID=$!
    PIDS+=("$ACCEL_PID")
    wait_port $ACCEL_PORT
}

[[ -x $ACCEL_BIN && -x $ORIGIN_BIN ]] || die "build first: cmake -B build && cmake --build build -j2"
command -v wrk >/dev/null || die "wrk not found: apt-get install wrk"
taskset -c "$LOAD_CPUS" "$ORIGIN_BIN" -l "127.0.0.1:$ORIGIN_PORT" >/dev/null &
PIDS+=($!)
wait_port $ORIGIN_PORT

start_accel 256m
load 4 >/dev/null # fill: every key once at least
filled=$(origin_requests)
mem_rps=$(load "$DURATION")
kill -TERM "$ACCEL_PID"
wait "$ACCEL_PID" 2>/dev/null
file_mib=$(($(stat -c %s "$TMP/cache.mdb") / 1048576))

t0=$(date +%s.%N)
start_accel 1m
ready_ms=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%d", (b - a) * 1000}')
first=$(curl -s -o /dev/null -w '%{http_code} %header{x-cache}' \
    "http://127.0.0.1:$ACCEL_PORT/z1?size=$SIZE&cc=max-age%3D3600")
disk_rps=$(load "$DURATION")
after=$(origin_requests)
rss=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$ACCEL_PID/status")

out=$(
    cat <<EOF
disk-bench $(date -u +%Y-%m-%dT%H:%M:%SZ): $KEYS keys x $SIZE bytes, uniform, $CONNS connections, one worker
memory hits (cache_memory 256m)        $mem_rps req/s
disk hits (cache_memory 1m, restarted) $disk_rps req/s   ratio $(awk -v a="$disk_rps" -v b="$mem_rps" 'BEGIN {printf "%.2f", a / b}')
origin requests: $filled to fill, $((after - filled)) after the restart (should be 0)
first request after restart: $first, accel ready $ready_ms ms after start
disk file $file_mib MiB, accel RSS after the disk run $rss MiB
EOF
)
echo "$out"
mkdir -p bench/results
echo "$out" >"bench/results/disk-$(date +%Y%m%d-%H%M%S).txt"
