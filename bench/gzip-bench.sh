#!/usr/bin/env bash
# gzip-bench.sh - hot hits on one compressible object, for a client that takes gzip and one that
# does not: accel (compresses once on the way in, stores gzip, inflates for identity clients),
# accel with `gzip off` (the reference: identity stored and served), nginx (gzip filter over
# proxy_cache: the cache holds identity bytes, every gzip hit is compressed again) and Varnish
# (do_gzip: stores gzip, gunzips for identity clients), all in front of the same accel-origin, in
# interleaved rounds. Then the memory a cached object costs, gzip on against gzip off: accel's RSS
# growth after caching OBJECTS distinct compressible objects (and Varnish's and nginx's storage,
# for context). Prints one report and writes it to bench/results/gzip-<date>-<time>.txt.
#
# Usage: bench/gzip-bench.sh            (from anywhere; build first: cmake -B build && cmake --build build -j2)
# Knobs (environment):
#   ACCEL_BIN=build/accel  ORIGIN_BIN=build/accel-origin  (accel-origin must know text=1)
#   DURATION=8 (s per run)  ROUNDS=2  WORKERS=1  CONNS=64  WARMUP=2 (s)  SIZE=65536 (bytes)
#   BODIES="text pattern"   text: accel-origin's text=1 body (words, gzip -6 keeps ~34%);
#                           pattern: its default body (near-random characters, gzip keeps ~76%)
#   GZIP_LEVEL=6            accel gzip_level, nginx gzip_comp_level, Varnish gzip_level
#   CACHES="accel accel-off nginx varnish" (any subset)
#   OBJECTS=1000 (storage test: distinct text objects of SIZE bytes; 0 skips it)  STORE_TIMEOUT=120 (s)
#   CAP_MIB=8 (accel capacity test: how many of the OBJECTS a cache_memory of CAP_MIB keeps; 0 skips it)
#   PROXY_CPUS=1  LOAD_CPUS=0   (taskset lists: caches vs wrk, curl and the origin)
#   KEEP_TMP=1 keeps the generated configs and logs.
# Every server is started by this script on a fixed loopback port and stopped at exit;
# every wait, every curl and every wrk run is bounded in time.
set -uo pipefail

BENCH=gzip-bench
# shellcheck source=bench/cache-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cache-lib.sh"

DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2}
SIZE=${SIZE:-65536}
BODIES=${BODIES:-"text pattern"}
GZIP_LEVEL=${GZIP_LEVEL:-6}
OBJECTS=${OBJECTS:-1000}
STORE_TIMEOUT=${STORE_TIMEOUT:-120}
CAP_MIB=${CAP_MIB:-8}
CACHE_MIB=256
ACCEL_OFF_PORT=18087 # the second accel, gzip off

[[ $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || die "DURATION must be a number of seconds"
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -gt 0 ]] || die "ROUNDS must be a positive number"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a number of seconds"
[[ $SIZE =~ ^[0-9]+$ && $SIZE -ge 1024 ]] || die "SIZE must be a number of bytes, at least 1024"
[[ $GZIP_LEVEL =~ ^[1-9]$ ]] || die "GZIP_LEVEL must be 1 to 9"
[[ $OBJECTS =~ ^[0-9]+$ ]] || die "OBJECTS must be a number"
[[ $CAP_MIB =~ ^[0-9]+$ ]] || die "CAP_MIB must be a number of MiB"
[[ $STORE_TIMEOUT =~ ^[0-9]+$ && $STORE_TIMEOUT -gt 0 ]] || die "STORE_TIMEOUT must be a number of seconds"
for b in $BODIES; do
    [[ $b == text || $b == pattern ]] || die "BODIES takes text and pattern (got '$b')"
done
((OBJECTS * SIZE / 1048576 < CACHE_MIB / 2)) || die "OBJECTS x SIZE must stay below half of ${CACHE_MIB} MiB"
command -v gzip >/dev/null || die "gzip not found"
command -v md5sum >/dev/null || die "md5sum not found"
port_open "$ACCEL_OFF_PORT" && die "port $ACCEL_OFF_PORT is already in use: stop whatever listens there"
bench_init
PORT[accel-off]=$ACCEL_OFF_PORT

read -r -a CACHES <<<"${CACHES:-accel accel-off nginx varnish}"
declare -A RPS=() P50=() P99=() ERRS=() SEEN=() REQS=() WIRE=() BODY=() CE=() REF=() REFGZ=() NAME=(
    [accel]=accel [accel-off]="accel gzip off" [nginx]=nginx [varnish]=Varnish)
KINDS=(gzip identity)
AE_GZIP="Accept-Encoding: gzip"

url() { # url <body>: the hot object
    if [[ $1 == text ]]; then
        echo "/gz-$1?size=$SIZE&text=1&cc=max-age%3D3600"
    else
        echo "/gz-$1?size=$SIZE&cc=max-age%3D3600"
    fi
}

# ---- servers -------------------------------------------------------------------------------------
start_origin
# accel-origin's text=1 body has spaces; its default pattern has none (an older build ignores text=1)
curl -s -m 5 "http://127.0.0.1:$ORIGIN_PORT/__probe?size=4096&text=1" | tr -cd ' ' | grep -q ' ' ||
    die "$ORIGIN_BIN does not know text=1 (a compressible body): rebuild it from this bench/origin.c"
ORIGIN_SRC_STATE="as committed"
[[ -n $(git -C "$ROOT" status --porcelain -- bench/origin.c 2>/dev/null) ]] && ORIGIN_SRC_STATE="with uncommitted changes"
for b in $BODIES; do # the reference body, straight from the origin
    REF[$b]=$(curl -s -m 10 "http://127.0.0.1:$ORIGIN_PORT$(url "$b")" | md5sum | cut -d' ' -f1)
    REFGZ[$b]=$(curl -s -m 10 "http://127.0.0.1:$ORIGIN_PORT$(url "$b")" | gzip -"$GZIP_LEVEL" | wc -c)
done

NGINX_GZIP="    gzip on;
    gzip_types text/plain;
    gzip_proxied any;
    gzip_comp_level $GZIP_LEVEL;
    gzip_vary on;"
VARNISH_GZIP='sub vcl_backend_response {
    set beresp.do_gzip = true;
}'
for t in "${CACHES[@]}"; do
    case $t in
    accel) ACCEL_CONF_EXTRA=$'gzip on\ngzip_level '"$GZIP_LEVEL" start_accel "$CACHE_MIB" accel ;;
    accel-off) ACCEL_CONF_EXTRA="gzip off" start_accel "$CACHE_MIB" accel-off ;;
    nginx) NGINX_CONF_EXTRA=$NGINX_GZIP start_nginx "$CACHE_MIB" ;;
    varnish) VARNISH_VCL_EXTRA=$VARNISH_GZIP VARNISH_PARAMS="-p http_gzip_support=on -p gzip_level=$GZIP_LEVEL" \
        start_varnish "$CACHE_MIB" ;;
    *) die "CACHES takes accel, accel-off, nginx, varnish (got '$t')" ;;
    esac
done

is_hit() { # is_hit <target> <headers>: the cache's own hit marker
    case $1 in
    accel | accel-off | nginx) grep -qi '^X-Cache: HIT' <<<"$2" ;;
    varnish) grep -qiE '^X-Varnish: [0-9]+ [0-9]+' <<<"$2" ;;
    *) return 1 ;;
    esac
}

# get <target> <body> <kind>: one request; sets G_CODE, G_LEN (body bytes), G_HDR (the head),
# G_CE (gzip or -) and G_MD5 (of the decoded body). Returns 1 on no answer.
get() {
    local t=$1 b=$2 kind=$3 w args=()
    [[ $kind == gzip ]] && args=(-H "$AE_GZIP")
    w=$(curl -s -m 10 "${args[@]}" -D "$TMP/head" -o "$TMP/body" -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:${PORT[$t]}$(url "$b")") || return 1
    read -r G_CODE G_LEN <<<"$w"
    G_HDR=$(tr -d '\r' <"$TMP/head")
    G_CE=-
    if grep -qi '^Content-Encoding: *gzip' <<<"$G_HDR"; then
        G_CE=gzip
        G_MD5=$(gzip -dc <"$TMP/body" 2>/dev/null | md5sum | cut -d' ' -f1)
    else
        G_MD5=$(md5sum <"$TMP/body" | cut -d' ' -f1)
    fi
    return 0
}

# Warms <target> on <body> and checks it: the second answer to each client kind is a hit with the
# origin's bytes (decoded), the identity client never gets gzip, and 6 more requests do not reach
# the origin. Records the body bytes and the Content-Encoding per client kind. A gzip client
# answered without gzip is a note, not a failure (it is a result).
warm_check() {
    local t=$1 b=$2 kind before after i
    for kind in "${KINDS[@]}"; do
        for i in 1 2; do
            get "$t" "$b" "$kind" || {
                echo "no answer to $(url "$b") ($kind client)"
                return 1
            }
        done
        [[ $G_CODE == 200 ]] || {
            echo "answers $(url "$b") with $G_CODE ($kind client)"
            return 1
        }
        is_hit "$t" "$G_HDR" || {
            echo "second $kind answer for $(url "$b") is not a hit ($(grep -iE '^(X-Cache|X-Varnish)' <<<"$G_HDR" | tr '\n' ' '))"
            return 1
        }
        [[ $G_MD5 == "${REF[$b]}" ]] || {
            echo "the $kind answer for $(url "$b") is not the origin's body once decoded ($G_LEN bytes, Content-Encoding $G_CE)"
            return 1
        }
        [[ $kind == identity && $G_CE != - ]] && {
            echo "an identity client got Content-Encoding: $G_CE for $(url "$b")"
            return 1
        }
        BODY[$t/$b/$kind]=$G_LEN
        CE[$t/$b/$kind]=$G_CE
    done
    before=$(origin_path_count "/gz-$b")
    for i in 1 2 3; do
        curl -s -m 10 -o /dev/null -H "$AE_GZIP" "http://127.0.0.1:${PORT[$t]}$(url "$b")"
        curl -s -m 10 -o /dev/null "http://127.0.0.1:${PORT[$t]}$(url "$b")"
    done
    after=$(origin_path_count "/gz-$b")
    [[ -n $before && $before == "$after" ]] || {
        echo "the origin saw /gz-$b again on warm requests ($before -> $after)"
        return 1
    }
    return 0
}

for t in "${CACHES[@]}"; do
    [[ -n ${ENABLED[$t]:-} ]] || continue
    for b in $BODIES; do
        if ! why=$(warm_check "$t" "$b"); then
            NOTE[$t]="$why; left out"
            unset "ENABLED[$t]"
            break
        fi
        # warm_check runs in a subshell: read what it recorded again, outside
        get "$t" "$b" gzip && BODY[$t/$b/gzip]=$G_LEN CE[$t/$b/gzip]=$G_CE
        get "$t" "$b" identity && BODY[$t/$b/identity]=$G_LEN CE[$t/$b/identity]=$G_CE
        if [[ ${CE[$t/$b/gzip]} != gzip && $t != accel-off ]]; then
            add_note "$t" "no Content-Encoding: gzip for a gzip client ($b body): it did not compress"
        fi
    done
done

run_wrk() { # run_wrk <port> <path> <seconds> <kind>: prints wrk_parse's fields, or "0 0 0 F 0 0"
    local port=$1 path=$2 secs=$3 kind=$4 out args=()
    [[ $kind == gzip ]] && args=(-H "$AE_GZIP")
    out=$(timeout $((secs + 20)) "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${secs}s" --latency "${args[@]}" \
        "http://127.0.0.1:$port$path" 2>&1) || {
        echo "0 0 0 F 0 0"
        return
    }
    wrk_parse <<<"$out"
}

REPORT="$RESULTS_DIR/gzip-$STAMP.txt"
RAW="$TMP/raw.txt"
: >"$RAW"

ACTIVE=()
for t in "${CACHES[@]}"; do
    [[ -n ${ENABLED[$t]:-} ]] && ACTIVE+=("$t")
done
((${#ACTIVE[@]} > 0)) || die "no cache came up: $(for t in "${CACHES[@]}"; do printf '%s: %s. ' "$t" "${NOTE[$t]:-}"; done)"
note "targets ${ACTIVE[*]}; $ROUNDS round(s) x $(wc -w <<<"$BODIES") body(ies) x ${#KINDS[@]} clients x ${DURATION}s each"

first=${BODIES%% *}
if ((WARMUP > 0)); then
    for t in "${ACTIVE[@]}"; do
        for kind in "${KINDS[@]}"; do
            run_wrk "${PORT[$t]}" "$(url "$first")" "$WARMUP" "$kind" >/dev/null
        done
    done
fi

for b in $BODIES; do
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in "${ACTIVE[@]}"; do
            for kind in "${KINDS[@]}"; do
                [[ -n ${ENABLED[$t]:-} ]] || continue
                origin_reset
                read -r rps p50 p99 errs reqs bytes < <(run_wrk "${PORT[$t]}" "$(url "$b")" "$DURATION" "$kind")
                seen=$(origin_requests)
                check_alive "$t" || note "$t: ${NOTE[$t]}"
                wire=$(awk -v b="$bytes" -v n="$reqs" 'BEGIN {printf "%.0f", n ? b / n : 0}')
                printf 'round %d  %-9s %-7s %-8s %10s req/s  p50 %7s ms  p99 %7s ms  errors %s  requests %s  bytes/resp %s  origin saw %s\n' \
                    "$r" "$t" "$b" "$kind" "$rps" "$p50" "$p99" "$errs" "$reqs" "$wire" "${seen:-?}" |
                    tee -a "$RAW" >&2
                k="$t/$b/$kind"
                RPS[$k]="${RPS[$k]:-} $rps"
                P50[$k]="${P50[$k]:-} $p50"
                P99[$k]="${P99[$k]:-} $p99"
                REQS[$k]="${REQS[$k]:-} $reqs"
                WIRE[$k]="${WIRE[$k]:-} $wire"
                SEEN[$k]="${SEEN[$k]:-} ${seen:-0}"
                if [[ $errs == F ]]; then
                    add_note "$t" "wrk failed or timed out in a run (counted as 0 req/s)"
                    errs=0
                fi
                ERRS[$k]=$((${ERRS[$k]:-0} + errs))
                # wrk counts bytes, not bodies: a cache that answers short would look fast
                if ((reqs > 0)) && awk -v w="$wire" -v s="${BODY[$k]:-0}" 'BEGIN {exit !(w < s * 0.99)}'; then
                    add_note "$t" "fewer bytes per answer than the body ($b, $kind: $wire < ${BODY[$k]})"
                fi
                sleep 1
            done
        done
    done
done

# ---- storage: what one cached object costs ----------------------------------------------------------
# fill <target> <tag> [<header>...]: requests the OBJECTS storage URLs once each with those request
# headers (curl, one keep-alive connection, bounded by STORE_TIMEOUT); prints "<answers with 200>
# <their body bytes summed>"
fill() {
    local t=$1 tag=$2 i h args=()
    shift 2
    for h in "$@"; do
        args+=(-H "$h")
    done
    for ((i = 1; i <= OBJECTS; i++)); do
        printf 'url = "http://127.0.0.1:%s/st%d?size=%d&text=1&cc=max-age%%3D3600"\noutput = "/dev/null"\n' \
            "${PORT[$t]}" "$i" "$SIZE"
    done >"$TMP/fill-$tag.cfg"
    timeout "$STORE_TIMEOUT" "${PIN_LOAD[@]}" curl -s -m 10 "${args[@]}" -K "$TMP/fill-$tag.cfg" \
        -w '%{http_code} %{size_download}\n' 2>/dev/null |
        awk '$1 == 200 {n++; s += $2} END {printf "%d %d\n", n, s}'
}

varnish_bytes() { # bytes in Varnish's malloc storage (SMA.s0.g_bytes), or -
    local v
    v=$(timeout 5 varnishstat -n "$TMP/varnish" -1 -f SMA.s0.g_bytes 2>/dev/null | awk '{print $2}')
    echo "${v:--}"
}
disk_bytes() { du -sb "$1" 2>/dev/null | awk '{print $1}'; }

declare -A ST=() CAP=() # storage results: "<label>" -> "objects stored_B rss0_kB rss1_kB other_B refetched"
STORE_ROWS=()
# store <target> <label> <other-measure-command or ""> : fills OBJECTS objects into a running
# target, measures the RSS of its processes (and the other measure) before and after, then asks for
# every object again: "refetched" is what reached the origin on that second pass (0: all still cached).
store() {
    local t=$1 label=$2 other=$3 rss0 rss1 o0=- o1=- res n sum refetched
    [[ -n ${ENABLED[$t]:-} ]] || return 0
    sleep 1
    rss0=$(rss_kb "${PID[$t]}")
    [[ -n $other ]] && o0=$($other)
    origin_reset
    res=$(fill "$t" "${label// /_}-1" "$AE_GZIP")
    read -r n sum <<<"$res"
    sleep 1
    rss1=$(rss_kb "${PID[$t]}")
    [[ -n $other ]] && o1=$($other)
    origin_reset
    fill "$t" "${label// /_}-2" "$AE_GZIP" >/dev/null
    refetched=$(origin_requests)
    check_alive "$t" || note "$t: ${NOTE[$t]}"
    local odelta=-
    [[ $o0 =~ ^[0-9]+$ && $o1 =~ ^[0-9]+$ ]] && odelta=$((o1 - o0))
    ST[$label]="$n $sum $rss0 $rss1 $odelta ${refetched:-?}"
    STORE_ROWS+=("$label")
    printf 'storage %-16s answers %s  body bytes %s  RSS %s -> %s KiB  other +%s B  refetched %s\n' \
        "$label" "$n" "$sum" "$rss0" "$rss1" "$odelta" "${refetched:-?}" | tee -a "$RAW" >&2
}

if ((OBJECTS > 0)); then
    note "storage: $OBJECTS objects of $SIZE bytes (text) per cache"
    # accel: a fresh process per setting, so both start from the same empty cache
    for t in accel accel-off; do
        stop "$t"
    done
    PORT[accel-store-on]=$ACCEL_PORT PORT[accel-store-off]=$ACCEL_PORT
    if [[ " ${CACHES[*]} " == *" accel "* || " ${CACHES[*]} " == *" accel-off "* ]]; then
        ACCEL_CONF_EXTRA=$'gzip on\ngzip_level '"$GZIP_LEVEL" start_accel "$CACHE_MIB" accel-store-on &&
            store accel-store-on "accel gzip on" ""
        stop accel-store-on
        ACCEL_CONF_EXTRA="gzip off" start_accel "$CACHE_MIB" accel-store-off &&
            store accel-store-off "accel gzip off" ""
        stop accel-store-off
        for t in accel-store-on accel-store-off; do
            [[ -n ${NOTE[$t]:-} ]] && NOTE[accel]="${NOTE[accel]:+${NOTE[accel]}; }storage ($t): ${NOTE[$t]}"
        done
    fi
    # accel's own accounting: how many of the objects a CAP_MIB budget keeps (asked again with
    # Cache-Control: only-if-cached, so the second pass neither reaches the origin nor evicts)
    if ((CAP_MIB > 0)) && [[ " ${CACHES[*]} " == *" accel "* || " ${CACHES[*]} " == *" accel-off "* ]]; then
        for mode in on off; do
            t=accel-cap-$mode
            PORT[$t]=$ACCEL_PORT
            extra="gzip $mode"
            [[ $mode == on ]] && extra=$'gzip on\ngzip_level '"$GZIP_LEVEL"
            if ACCEL_CONF_EXTRA=$extra start_accel "$CAP_MIB" "$t"; then
                read -r n _ <<<"$(fill "$t" "cap-$mode-1" "$AE_GZIP")"
                read -r kept _ <<<"$(fill "$t" "cap-$mode-2" "$AE_GZIP" "Cache-Control: only-if-cached")"
                check_alive "$t" || note "$t: ${NOTE[$t]}"
                CAP[$mode]="$n $kept"
                printf 'capacity gzip %-3s %s MiB: filled %s, kept %s\n' "$mode" "$CAP_MIB" "$n" "$kept" | tee -a "$RAW" >&2
            else
                NOTE[accel]="${NOTE[accel]:+${NOTE[accel]}; }capacity test ($t): ${NOTE[$t]}"
            fi
            stop "$t"
        done
    fi
    store varnish "Varnish do_gzip" varnish_bytes
    nginx_disk() { disk_bytes "$TMP/nginx/cache"; }
    store nginx "nginx" nginx_disk
fi

# ---- report ----------------------------------------------------------------------------------------
ratio() { # ratio <a> <b>: a / b as "1.23x", or - when b is 0 or empty
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2fx", a / b; else print "-" }'
}
{
    echo "accel gzip-bench: hot hits on one compressible object, gzip and identity clients, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "URL: GET /gz-<body>?size=${SIZE}[&text=1]&cc=max-age%3D3600, warmed and checked as a hit for both clients first;" \
        "wrk -t1 -c$CONNS -d${DURATION}s --latency, the gzip client with -H '$AE_GZIP';" \
        "$ROUNDS interleaved round(s); req/s, p50, p99 and bytes are means over the rounds"
    echo "bodies: text = accel-origin text=1 (words; gzip -$GZIP_LEVEL alone: ${REFGZ[text]:-?} of $SIZE bytes)," \
        "pattern = its default body (near-random characters; gzip -$GZIP_LEVEL alone: ${REFGZ[pattern]:-?} of $SIZE bytes);" \
        "accel-origin: $ORIGIN_BIN, bench/origin.c $ORIGIN_SRC_STATE"
    echo "gzip level $GZIP_LEVEL everywhere; accel: gzip on (accel gzip off: gzip off); nginx: gzip on, gzip_types text/plain," \
        "gzip_proxied any, gzip_comp_level, gzip_vary on, over proxy_cache; Varnish: http_gzip_support=on, gzip_level," \
        "beresp.do_gzip = true in vcl_backend_response"
    echo "cache budget: ${CACHE_MIB} MiB each; workers/threads: $WORKERS (Varnish: thread_pools=1); CPU pinning: $PINNING"
    machine
    echo "$VERSIONS"
    echo
    printf '%-15s %-7s %-8s %9s %5s %7s %7s %8s %8s %8s %8s %-4s %6s %7s\n' cache body client "req/s" "+-" "p50 ms" \
        "p99 ms" "vs accel" "p99 vs" "wire B" "body B" CE errors "origin"
    for b in $BODIES; do
        for kind in "${KINDS[@]}"; do
            base="" basep99=""
            if [[ -n ${RPS[accel/$b/$kind]:-} ]]; then
                base=$(mean "${RPS[accel/$b/$kind]}")
                basep99=$(mean "${P99[accel/$b/$kind]}")
            fi
            for t in "${ACTIVE[@]}"; do
                k="$t/$b/$kind"
                [[ -n ${RPS[$k]:-} ]] || continue
                m=$(mean "${RPS[$k]}")
                p=$(mean "${P99[$k]}")
                printf '%-15s %-7s %-8s %9s %5s %7s %7s %8s %8s %8s %8s %-4s %6s %7s\n' "${NAME[$t]}" "$b" "$kind" "$m" \
                    "$(spread "${RPS[$k]}")" "$(mean "${P50[$k]}")" "$p" "$(ratio "$m" "$base")" "$(ratio "$p" "$basep99")" \
                    "$(mean "${WIRE[$k]}" | cut -d. -f1)" "${BODY[$k]:-?}" "${CE[$k]:--}" "${ERRS[$k]}" "$(sum "${SEEN[$k]}")"
            done
        done
    done
    echo
    echo "'vs accel': req/s relative to accel for the same body and client (above 1 = faster than accel); 'p99 vs': p99"
    echo "relative to accel's (above 1 = slower tail). '+-': half the range of req/s over the rounds in % of the mean."
    echo "'wire B': bytes wrk read per answer (head + body + chunk framing); 'body B': the body bytes of one answer"
    echo "(curl size_download, not decoded); 'CE': the Content-Encoding that client got. 'origin': requests the origin"
    echo "saw during the measured runs (all rounds): 0 for a working cache. Every answer was checked to decode to the"
    echo "origin's bytes before the runs."
    if ((${#STORE_ROWS[@]} > 0)); then
        echo
        echo "Storage: $OBJECTS distinct text objects of $SIZE bytes (/st<i>?size=$SIZE&text=1&cc=max-age%3D3600), each requested"
        echo "once by a gzip client (curl, one connection), after the runs above; accel in a fresh process per setting."
        printf '%-16s %7s %12s %10s %10s %14s %14s %9s\n' cache objects "body B/obj" "RSS0 MiB" "RSS1 MiB" "RSS B/obj" \
            "store B/obj" refetched
        for label in "${STORE_ROWS[@]}"; do
            read -r n sum rss0 rss1 odelta refetched <<<"${ST[$label]}"
            per=$(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n; else print "-" }')
            [[ $label == nginx ]] && per="- (disk)" # its cache is files: its RSS does not hold it
            other=-
            [[ $odelta =~ ^-?[0-9]+$ ]] && other=$(awk -v d="$odelta" -v n="$n" 'BEGIN { if (n > 0) printf "%.0f", d / n; else print "-" }')
            printf '%-16s %7s %12s %10s %10s %14s %14s %9s\n' "$label" "$n" \
                "$(awk -v s="$sum" -v n="$n" 'BEGIN { if (n > 0) printf "%.0f", s / n; else print "-" }')" \
                "$(awk -v k="$rss0" 'BEGIN {printf "%.1f", k / 1024}')" "$(awk -v k="$rss1" 'BEGIN {printf "%.1f", k / 1024}')" \
                "$per" "$other" "$refetched"
        done
        echo
        echo "'body B/obj': mean body bytes a gzip client got on the fill (what was stored, for accel gzip on and Varnish)."
        echo "'RSS B/obj': growth of the resident memory of the cache's processes (VmRSS, children included) over the fill,"
        echo "divided by the objects: the body, its head, the index and allocator overhead. It is bounded by RSS's own"
        echo "noise: freed buffers (zlib's ~300 KiB deflate state per miss, connection buffers) that the allocator keeps"
        echo "count too, so take it to +-1 KiB per object at 1000 objects. 'store B/obj': Varnish: growth of SMA.s0.g_bytes"
        echo "(bytes allocated in its malloc storage); nginx: growth of its cache directory (du -sb, files on disk; its"
        echo "RSS does not hold the cache). 'refetched': origin requests when every object was asked again (0: all cached)."
        if ((${#CAP[@]} > 0)); then
            echo
            echo "accel's own accounting: a fresh accel with cache_memory ${CAP_MIB}m is filled with the same $OBJECTS objects (gzip client),"
            echo "then asked for each again with Cache-Control: only-if-cached: 'kept' answered 200 (the others 504)."
            echo "'charged B/obj' = ${CAP_MIB} MiB / kept: the memory the budget charges per object, head and metadata included."
            printf '%-16s %9s %7s %7s %15s\n' cache "budget" filled kept "charged B/obj"
            for mode in on off; do
                [[ -n ${CAP[$mode]:-} ]] || continue
                read -r n kept <<<"${CAP[$mode]}"
                printf '%-16s %9s %7s %7s %15s\n' "accel gzip $mode" "${CAP_MIB} MiB" "$n" "$kept" \
                    "$(awk -v m="$CAP_MIB" -v k="$kept" 'BEGIN { if (k > 0) printf "%.0f", m * 1048576 / k; else print "-" }')"
                ((kept >= n)) && echo "note: gzip $mode: every object fit: the budget was not reached, raise OBJECTS or lower CAP_MIB"
            done
        fi
    fi
    for t in "${CACHES[@]}"; do
        [[ -n ${NOTE[$t]:-} ]] && echo "note: ${NAME[$t]:-$t}: ${NOTE[$t]}"
    done
    echo
    echo "runs:"
    cat "$RAW"
} | tee "$REPORT"
note "written to ${REPORT#"$ROOT"/}"
