#!/usr/bin/env bash
# tls-bench.sh - TLS termination side by side: accel, nginx and HAProxy, each with its cache in
# front of the same accel-origin, the same certificate and one worker, in interleaved rounds.
#   hits       keep-alive HTTPS hits on one cached URL (1 KiB, 64 KiB): wrk -c64 over TLS; accel
#              twice: as built (small writes gathered into one TLS record buffer) and as
#              accel-iovec (ACCEL_TLS_WRITE=iovec: one SSL_write per iovec), the issue's "measured
#              both ways"
#   handshakes new connections per second, each one handshake + one GET of a cached 1 KiB object
#              + close (accel-tls-hs, bench/tls_hs.c): full handshakes (no session offered) and
#              resumed ones (the previous connection's session offered), with an ECDSA P-256 and
#              an RSA 2048 certificate
# For each row: req/s (or new connections/s), p99 ms, the server's CPU ms per 1000 requests (or
# connections), and for resumption the share of connections the server resumed. Writes
# bench/results/tls-<date>-<time>.txt and .tsv (read by compare.sh, scenario "tls").
#
# Usage: bench/tls-bench.sh   (build first: cmake -B build && cmake --build build -j2)
# Knobs (environment): DURATION=5 (s per run)  ROUNDS=2  CONNS=64 (wrk)  HS_CONNS=16 (accel-tls-hs
#   client threads)  SIZES="1k 64k"  KEYS="ecdsa rsa"  CACHES="accel nginx haproxy" (any subset;
#   accel brings accel-iovec)  TLS12=1 (handshakes at TLS 1.2 instead of the highest version)
#   WORKERS=1  PROXY_CPUS=1  LOAD_CPUS=0  ACCEL_BIN  ORIGIN_BIN  HS_BIN=build/accel-tls-hs  KEEP_TMP=1
# Loopback only, fixed ports (cache-lib.sh's, plus 18443-18446 and 18089 for the TLS listeners);
# every run is bounded in time. About 6 minutes with the defaults.
set -uo pipefail

BENCH=tls-bench
# shellcheck source=bench/cache-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cache-lib.sh"

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-64}
HS_CONNS=${HS_CONNS:-16}
SIZES=${SIZES:-"1k 64k"}
KEYS=${KEYS:-"ecdsa rsa"}
HS_BIN=${HS_BIN:-build/accel-tls-hs}
WARMUP=${WARMUP:-1}
for v in DURATION ROUNDS CONNS HS_CONNS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive number"
done
for s in $SIZES; do
    [[ $s =~ ^[0-9]+[km]$ ]] || die "SIZES takes sizes like 1k, 64k (got '$s')"
done
for k in $KEYS; do
    [[ $k =~ ^(ecdsa|rsa)$ ]] || die "KEYS takes ecdsa, rsa (got '$k')"
done
read -r -a WANT <<<"${CACHES:-accel nginx haproxy}"
TARGETS=()
for t in "${WANT[@]}"; do
    case $t in
    accel) TARGETS+=(accel accel-iovec) ;;
    nginx | haproxy) TARGETS+=("$t") ;;
    *) die "CACHES takes accel, nginx, haproxy (got '$t')" ;;
    esac
done
((${#TARGETS[@]} > 0)) || die "CACHES is empty"
command -v openssl >/dev/null || die "openssl not found: apt-get install openssl"
[[ -x $HS_BIN ]] || die "$HS_BIN not found: build first (cmake -B build && cmake --build build -j2)"

# the TLS ports; the plain ones stay cache-lib.sh's (accel-iovec's plain listener on 18089)
declare -A TLS_PORT=([accel]=18443 [nginx]=18444 [haproxy]=18445 [accel-iovec]=18446)
PORT["accel-iovec"]=18089
for p in "${TLS_PORT[@]}" 18089; do
    port_open "$p" && die "port $p is already in use: stop whatever listens there"
done
bench_init

# ---- certificates: one self-signed certificate per key type, for localhost ----------------------
make_cert() { # make_cert <ecdsa|rsa>: $TMP/<k>.pem, <k>.key and <k>.both (HAProxy: both in one)
    local k=$1 newkey
    case $k in
    ecdsa) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
    rsa) newkey=(-newkey rsa:2048) ;;
    esac
    openssl req -x509 "${newkey[@]}" -nodes -keyout "$TMP/$k.key" -out "$TMP/$k.pem" -days 2 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>"$TMP/openssl-$k.err" ||
        die "openssl req failed: $(tail -n 2 "$TMP/openssl-$k.err")"
    cat "$TMP/$k.pem" "$TMP/$k.key" >"$TMP/$k.both"
    chmod 644 "$TMP/$k.key" "$TMP/$k.both" # nginx reads them as root, HAProxy as itself
}

wait_tls() { # wait_tls <target>: the TLS port accepts, bounded by WAIT_S
    local i
    for ((i = 0; i < WAIT_S * 10; i++)); do
        port_open "${TLS_PORT[$1]}" && return 0
        sleep 0.1
    done
    add_note "$1" "its TLS port ${TLS_PORT[$1]} did not open"
    return 1
}

# start_tls <target> <key>: the cache with a TLS listener beside its plain one, <key>'s certificate
start_tls() {
    local t=$1 k=$2 mib=256
    case $t in
    accel | accel-iovec)
        local extra="listen 127.0.0.1:${TLS_PORT[$t]} tls
tls_certificate $TMP/$k.pem $TMP/$k.key"
        if [[ $t == accel-iovec ]]; then
            ACCEL_TLS_WRITE=iovec ACCEL_CONF_EXTRA=$extra start_accel "$mib" "$t" || return 1
        else
            ACCEL_CONF_EXTRA=$extra start_accel "$mib" "$t" || return 1
        fi
        ;;
    nginx)
        NGINX_CONF_EXTRA="    server {
        listen 127.0.0.1:${TLS_PORT[nginx]} ssl backlog=4096;
        ssl_certificate $TMP/$k.pem;
        ssl_certificate_key $TMP/$k.key;
        ssl_protocols TLSv1.2 TLSv1.3; # nginx 1.22's default has no TLS 1.3
        ssl_session_cache shared:SSL:10m;
        ssl_session_timeout 1h;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_cache z;
            proxy_cache_valid 200 10m;
            proxy_cache_lock on;
            add_header X-Cache \$upstream_cache_status always;
        }
    }" start_nginx "$mib" || return 1
        ;;
    haproxy)
        HAPROXY_FRONTEND_EXTRA="    bind 127.0.0.1:${TLS_PORT[haproxy]} ssl crt $TMP/$k.both alpn http/1.1" \
            start_haproxy "$mib" || return 1
        ;;
    esac
    wait_tls "$t"
}

ktls_state() { # what the kernel offers for kTLS (the "tls" upper layer protocol)
    if grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
        echo "the kernel offers it (tls in /proc/sys/net/ipv4/tcp_available_ulp)"
    else
        echo "this kernel ($(uname -r)) does not offer it (no tls in /proc/sys/net/ipv4/tcp_available_ulp), so every server encrypts in user space"
    fi
}

url() { echo "/hot?size=$1&cc=max-age%3D3600"; }
HS_PATH=$(url 1k)

run_wrk() { # run_wrk <target> <size> <seconds>: wrk_parse's fields, or "0 0 0 F 0 0"
    local out
    out=$(timeout $(($3 + 20)) "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${3}s" --latency \
        "https://127.0.0.1:${TLS_PORT[$1]}$(url "$2")" 2>&1) || {
        echo "0 0 0 F 0 0"
        return
    }
    wrk_parse <<<"$out"
}

run_hs() { # run_hs <target> <full|resumed> <seconds>: accel-tls-hs's key=value line
    local args=(-c "$HS_CONNS" -d "$3" -T 5 -H localhost -p "$HS_PATH")
    [[ $2 == resumed ]] && args+=(-r)
    [[ ${TLS12:-0} == 1 ]] && args+=(-2)
    timeout $(($3 + 20)) "${PIN_LOAD[@]}" "$HS_BIN" "${args[@]}" "127.0.0.1:${TLS_PORT[$1]}" 2>>"$TMP/hs.err" ||
        echo "conns=0 conn_s=0 resumed=0 errors=F p99_ms=0"
}
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

declare -A RPS=() P99=() CPU=() ERRS=() RES=() VER=()
RAW="$TMP/runs.txt"
: >"$RAW"
ROWS=() # scenario names in order
add_row() { [[ " ${ROWS[*]} " == *" $1 "* ]] || ROWS+=("$1"); }
record() { # record <scenario> <target> <rps> <p99> <cpu> <errors> [<resumed share>]
    local k="$1/$2"
    RPS[$k]="${RPS[$k]:-}${RPS[$k]:+ }$3"
    P99[$k]="${P99[$k]:-}${P99[$k]:+ }$4"
    CPU[$k]="${CPU[$k]:-}${CPU[$k]:+ }$5"
    ERRS[$k]=$((${ERRS[$k]:-0} + ${6//F/1}))
    [[ -n ${7:-} ]] && RES[$k]="${RES[$k]:-}${RES[$k]:+ }$7"
    add_row "$1"
}

note "targets ${TARGETS[*]}; keys $KEYS; sizes $SIZES; DURATION=${DURATION}s ROUNDS=$ROUNDS"
start_origin
for k in $KEYS; do
    make_cert "$k"
    UP=()
    for t in "${TARGETS[@]}"; do
        if start_tls "$t" "$k"; then
            UP+=("$t")
        else
            note "$t did not start with the $k certificate: ${NOTE[$t]:-}"
        fi
    done
    # warm-up: the objects cached, the first connections made
    for t in "${UP[@]}"; do
        for s in $SIZES 1k; do
            run_wrk "$t" "$s" "$WARMUP" >/dev/null
        done
    done
    for ((r = 1; r <= ROUNDS; r++)); do
        # keep-alive hits: once, with the first key type (the key plays no part after the handshake)
        if [[ $k == "${KEYS%% *}" ]]; then
            for s in $SIZES; do
                for t in "${UP[@]}"; do
                    check_alive "$t" || continue
                    c0=$(cpu_ticks "${PID[$t]}")
                    read -r rps _ p99 errs reqs _ < <(run_wrk "$t" "$s" "$DURATION")
                    c1=$(cpu_ticks "${PID[$t]}")
                    cpu=$(cpu_per_1k "$c0" "$c1" "$reqs")
                    record "tls-hit-$s" "$t" "$rps" "$p99" "$cpu" "$errs"
                    echo "round $r, $t, hit $s over TLS: $rps req/s, p99 $p99 ms, cpu $cpu ms/1k, errors $errs" | tee -a "$RAW" >&2
                done
            done
        fi
        for mode in full resumed; do
            for t in "${UP[@]}"; do
                [[ $t == accel-iovec ]] && continue # the write mode plays no part in a handshake
                check_alive "$t" || continue
                c0=$(cpu_ticks "${PID[$t]}")
                line=$(run_hs "$t" "$mode" "$DURATION")
                c1=$(cpu_ticks "${PID[$t]}")
                n=$(field conns "$line")
                cps=$(field conn_s "$line")
                cpu=$(cpu_per_1k "$c0" "$c1" "$n")
                share=$(awk -v r="$(field resumed "$line")" -v n="$n" 'BEGIN {if (n > 0) printf "%.3f", r / n; else print "-"}')
                record "tls-$mode-$k" "$t" "$cps" "$(field p99_ms "$line")" "$cpu" "$(field errors "$line")" "$share"
                VER[$k/$t]=$(field version "$line")/$(field cipher "$line")
                echo "round $r, $t, $mode handshakes ($k): $cps conn/s, p99 $(field p99_ms "$line") ms, cpu $cpu ms/1k," \
                    "resumed $share, errors $(field errors "$line")" | tee -a "$RAW" >&2
            done
        done
    done
    for t in "${UP[@]}"; do
        stop "$t"
        ((STOP_RC != 0 && STOP_RC != 143)) && add_note "$t" "exited with status $STOP_RC when stopped ($k run)"
    done
done

# ---- the report ---------------------------------------------------------------------------------
REPORT="$RESULTS_DIR/tls-$STAMP.txt"
TSV="${REPORT%.txt}.tsv"
best_other() { # best_other <scenario>: the higher mean req/s of nginx and HAProxy, or empty
    local b="" t m
    for t in nginx haproxy; do
        [[ -n ${RPS[$1/$t]:-} ]] || continue
        m=$(mean "${RPS[$1/$t]}")
        [[ -z $b ]] || awk -v a="$m" -v b="$b" 'BEGIN {exit !(a > b)}' && b=$m
    done
    echo "$b"
}
{
    echo "accel tls-bench: TLS termination, ${TARGETS[*]}, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "one worker each; CPU pinning: $PINNING; DURATION=${DURATION}s ROUNDS=$ROUNDS (interleaved)"
    echo "hits: wrk -t1 -c$CONNS over TLS (keep-alive), cached /hot objects; handshakes: accel-tls-hs -c $HS_CONNS" \
        "(connect, handshake, GET $HS_PATH, close)${TLS12:+, TLS 1.2 at most}"
    for k in $KEYS; do
        line="$k, negotiated:"
        for t in "${TARGETS[@]}"; do
            [[ -n ${VER[$k/$t]:-} ]] && line+=" $t ${VER[$k/$t]};"
        done
        echo "${line%;}"
    done
    machine
    echo "$VERSIONS"
    echo
    printf '%-22s %-12s %12s %9s %12s %9s %9s %7s\n' scenario server "req|conn/s" "p99 ms" "cpu ms/1k" resumed "vs best" errors
    for sc in "${ROWS[@]}"; do
        best=$(best_other "$sc")
        for t in "${TARGETS[@]}"; do
            k="$sc/$t"
            [[ -n ${RPS[$k]:-} ]] || continue
            m=$(mean "${RPS[$k]}")
            vs="-"
            [[ -n $best ]] && vs=$(awk -v a="$m" -v b="$best" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "-"}')
            printf '%-22s %-12s %12s %9s %12s %9s %9s %7s\n' "$sc" "$t" "$m" "$(mean "${P99[$k]}")" \
                "$(mean_known "${CPU[$k]}")" "$(mean_known "${RES[$k]:--}")" "$vs" "${ERRS[$k]}"
        done
        echo
    done
    echo "'vs best' = req/s (hits) or new connections/s (handshakes) over the better of nginx and HAProxy in"
    echo "the same row. 'cpu ms/1k' = the server's utime + stime over the run per 1000 requests (hits) or"
    echo "connections (handshakes): when the client side is the limit (one CPU for accel-tls-hs, which"
    echo "verifies the server's signature and does its own key exchange), this is the column that compares."
    echo "'resumed' = the share of connections the server resumed (accel-tls-hs counts SSL_session_reused)."
    echo "accel-iovec = accel with ACCEL_TLS_WRITE=iovec (one SSL_write per iovec instead of one gathered"
    echo "buffer for small writes). kTLS: $(ktls_state)"
    for t in origin "${TARGETS[@]}"; do
        [[ -n ${NOTE[$t]:-} ]] && echo "note: $t: ${NOTE[$t]}"
    done
    [[ -s $TMP/hs.err ]] && echo "note: accel-tls-hs said: $(sort "$TMP/hs.err" | uniq -c | sort -rn | head -n 3 | tr '\n' ' ')"
    echo
    echo "runs:"
    cat "$RAW"
} | tee "$REPORT"

{
    printf 'scenario\tcache\treq_s\tp99_ms\thit_ratio\torigin_reqs\tpeak_rss_mib\treq_s_spread\tcpu_ms_per_1k\tresumed\terrors\n'
    for sc in "${ROWS[@]}"; do
        for t in "${TARGETS[@]}"; do
            k="$sc/$t"
            [[ -n ${RPS[$k]:-} ]] || continue
            printf '%s\t%s\t%s\t%s\t-\t-\t-\t%s\t%s\t%s\t%s\n' "$sc" "$t" "$(mean "${RPS[$k]}")" "$(mean "${P99[$k]}")" \
                "$(spread "${RPS[$k]}")" "$(mean_known "${CPU[$k]}")" "$(mean_known "${RES[$k]:--}")" "${ERRS[$k]}"
        done
    done
} >"$TSV"
note "written to ${REPORT#"$ROOT"/} (and ${TSV#"$ROOT"/})"
