#!/usr/bin/env bash
# compare.sh - the side-by-side comparison: accel, nginx (proxy_cache + proxy_cache_lock), Varnish
# (malloc storage) and HAProxy (its cache section), whichever are installed, in front of the same
# accel-origin, with the same memory budget and worker count, on the same workloads. It runs the
# existing benchmarks one after another (each interleaves the caches round by round and writes its
# own report in bench/results/), then gathers their numbers into ONE table:
#   hits     hit-bench.sh SIZES="1k 64k 1m"   hot hits on one cached URL (accel-fixed: the box's limit)
#   zipf     zipf-bench.sh                    hit ratio, Zipf(0.99) keys, memory at 1/10 of the key space
#   coalesce coalesce-bench.sh                1000 clients x 1 cold URL; 50 cold URLs x 100 clients
#   pass     proxy-bench.sh                   pass-through of uncacheable (no-store) traffic
#   tls      tls-bench.sh                     over TLS: keep-alive hits (1k, 64k; accel also as
#            accel-iovec, one SSL_write per iovec), full and resumed handshakes (ECDSA, RSA); accel,
#            nginx, HAProxy only (Varnish does not terminate TLS); not in the default SCENARIOS
# columns: req/s, p99 ms, CPU ms per 1000 requests (the server's utime + stime over the run), hit
# ratio, origin requests, peak RSS MiB, req/s and CPU relative to accel ("-" where a column does not
# apply); then a second table: hot hits at one fixed open-loop rate (accel-bench -r) below every
# cache's ceiling, p50/p99 and CPU per 1000 requests at the same load. ACCEL_OLD=/path/to/accel (an
# older build, bench/build-rev.sh) adds accel-old beside accel in every scenario, same config. Writes bench/results/compare-<date>-<time>.txt and .tsv, and
# draws req/s relative to accel per scenario and cache in compare-<date>-<time>.svg.
#
# Usage: bench/compare.sh     (from anywhere; build first: cmake -B build && cmake --build build -j2)
# Knobs (environment):
#   DURATION=5 (s per wrk run: hits, pass)  ZIPF_DURATION=4*DURATION (s per cold Zipf run)  ROUNDS=2
#   CACHES="accel nginx varnish haproxy" (any subset)  SCENARIOS="hits zipf coalesce pass" (any subset)
#   ACCEL_OLD (the old binary: accel-old after accel)  RATE_SIZES="1k" (hit sizes with a fixed-rate
#   run; "" none)  RATE (req/s) or RATE_PCT=60 (% of the slowest cache's req/s at that size)
#   HIT_SIZES="1k 64k 1m"  PASS_SIZES="1024 65536" (bytes)  WORKERS=1  PROXY_CPUS=1  LOAD_CPUS=0
#   ACCEL_BIN  ORIGIN_BIN  FIXED_BIN  ACCEL_SRC  KEEP_TMP=1 (passed on to every script)
# With the defaults it takes about 11 minutes on 2 cores. Every script it runs is bounded in time
# (and bounds each of its own runs); loopback only; the fixed ports of cache-lib.sh must be free.
set -uo pipefail

BENCH=compare
# shellcheck source=bench/cache-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cache-lib.sh"

DURATION=${DURATION:-5}
[[ $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || die "DURATION must be a positive number of seconds"
ZIPF_DURATION=${ZIPF_DURATION:-$((DURATION * 4))}
ROUNDS=${ROUNDS:-2}
HIT_SIZES=${HIT_SIZES:-"1k 64k 1m"}
PASS_SIZES=${PASS_SIZES:-"1024 65536"}
read -r -a CACHES <<<"${CACHES:-accel nginx varnish haproxy}"
mapfile -t CACHES < <(with_accel_old "${CACHES[@]}")
read -r -a SCENARIOS <<<"${SCENARIOS:-hits zipf coalesce pass}"
for v in ZIPF_DURATION ROUNDS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive number"
done
((${#CACHES[@]} > 0)) || die "CACHES is empty"
for t in "${CACHES[@]}"; do
    [[ $t =~ ^(accel|accel-old|nginx|varnish|haproxy)$ ]] || die "CACHES takes accel, accel-old, nginx, varnish, haproxy (got '$t')"
    [[ $t == accel-old && -z ${ACCEL_OLD:-} ]] && die "CACHES names accel-old: set ACCEL_OLD to the old binary"
    [[ $t == accel-old && ! -x $ACCEL_OLD ]] && die "ACCEL_OLD=$ACCEL_OLD is not an executable"
done
((${#SCENARIOS[@]} > 0)) || die "SCENARIOS is empty"
for s in "${SCENARIOS[@]}"; do
    [[ $s =~ ^(hits|zipf|coalesce|pass|tls)$ ]] || die "SCENARIOS takes hits, zipf, coalesce, pass, tls (got '$s')"
done
for s in $HIT_SIZES; do
    [[ $s =~ ^[0-9]+[km]$ ]] || die "HIT_SIZES takes sizes like 1k, 64k, 1m (got '$s')"
done
for s in $PASS_SIZES; do
    [[ $s =~ ^[0-9]+$ ]] || die "PASS_SIZES takes sizes in bytes (got '$s')"
done
# the hit sizes that also get a fixed-rate run (hit-bench.sh's RATE_SIZES): those of HIT_SIZES
RATE_SIZES_IN=${RATE_SIZES-1k}
RATE_SIZES=""
for s in $RATE_SIZES_IN; do
    [[ " $HIT_SIZES " == *" $s "* ]] && RATE_SIZES+="${RATE_SIZES:+ }$s"
done
command -v python3 >/dev/null || die "python3 not found: apt-get install python3"
bench_init # tools, free ports, TMP, STAMP, load average, versions

# The scripts read these from the environment; pass on exactly what was resolved here.
export ACCEL_BIN ORIGIN_BIN FIXED_BIN WORKERS PROXY_CPUS LOAD_CPUS
[[ -n ${ACCEL_SRC:-} ]] && export ACCEL_SRC
for v in ACCEL_OLD ACCEL_OLD_REV RATE RATE_PCT BENCH_BIN; do
    [[ -n ${!v:-} ]] && export "${v?}"
done
[[ -n ${KEEP_TMP:-} ]] && export KEEP_TMP

# A script runs in the background so that an interrupt here can stop it (and it stops its servers).
SUB=""
compare_cleanup() {
    if [[ -n $SUB ]]; then
        kill -TERM "$SUB" 2>/dev/null
        wait "$SUB" 2>/dev/null
    fi
    cleanup
}
trap compare_cleanup EXIT

REPORT="$RESULTS_DIR/compare-$STAMP.txt"
TSV="$RESULTS_DIR/compare-$STAMP.tsv"
SVG="$RESULTS_DIR/compare-$STAMP.svg"
MANIFEST="$TMP/manifest.tsv" # kind, .tsv, .txt of every script that wrote its report
: >"$MANIFEST"
FAILED=()
RAN=()

# run_script <kind> <script> <bound s> <VAR=value...>: runs bench/<script>.sh with the knobs given,
# its progress on stderr, bounded by <bound> seconds; records its report in MANIFEST.
run_script() {
    local kind=$1 script=$2 bound=$3 rc txt tsvf tailpid
    shift 3
    local shown="" a
    for a in "$@"; do
        shown+="${a%%=*}=\"${a#*=}\" "
    done
    note "== ${shown}bench/$script.sh (at most ${bound}s)"
    RAN+=("${shown}bench/$script.sh")
    env "$@" timeout -k 30 "$bound" "$ROOT/bench/$script.sh" >"$TMP/$kind.out" 2>"$TMP/$kind.err" &
    SUB=$!
    tail -n +1 --pid="$SUB" -f "$TMP/$kind.err" >&2 &
    tailpid=$!
    wait "$SUB"
    rc=$?
    SUB=""
    wait "$tailpid" 2>/dev/null
    txt=$(sed -n 's/.*: written to \(bench\/results\/[^ ]*\.txt\).*/\1/p' "$TMP/$kind.err" | tail -n 1)
    tsvf=${txt%.txt}.tsv
    if ((rc != 0)) || [[ -z $txt || ! -s $ROOT/$tsvf ]]; then
        FAILED+=("$script.sh exited with status $rc$( ((rc == 124)) && echo " (timed out after ${bound}s)")" \
            "${txt:+(report ${txt})}: $(tail -n 3 "$TMP/$kind.err" | tr '\n' ' ')")
        note "$script.sh failed (status $rc): its rows are missing"
        return 1
    fi
    printf '%s\t%s\t%s\n' "$kind" "$ROOT/$tsvf" "$txt" >>"$MANIFEST"
    return 0
}

nwords() { wc -w <<<"$1"; }
NC=${#CACHES[@]}
declare -A BOUND=(
    # worst cases of the scripts' own bounds (wrk: DURATION + 20 s; a client run: 20 + 15 s), plus start-up
    [hits]=$((($(nwords "$HIT_SIZES") + $(nwords "$RATE_SIZES")) * ROUNDS * (NC + 1) * (DURATION + 25) + (NC + 1) * 25 + 180))
    [zipf]=$((ROUNDS * NC * (ZIPF_DURATION + 30 + 120 + 25) + 120))
    [coalesce]=$((ROUNDS * NC * 2 * 37 + 120))
    [pass]=$(($(nwords "$PASS_SIZES") * ROUNDS * (NC + 1) * (DURATION + 25) + (NC + 1) * 25 + 120))
    [tls]=$((ROUNDS * (2 * 4 + 4 * 3) * (DURATION + 25) + 2 * 4 * 25 + 180))
)
# what to expect (measured on 2 cores): per run its duration plus ~1.5 s, per cold Zipf run ~8 s more
est=0
for s in "${SCENARIOS[@]}"; do
    case $s in
    hits) est=$((est + ($(nwords "$HIT_SIZES") + $(nwords "$RATE_SIZES")) * ROUNDS * (NC + 1) * (DURATION + 2) + (NC + 1) * 2 + 15)) ;;
    zipf) est=$((est + ROUNDS * NC * (ZIPF_DURATION + 8) + 5)) ;;
    coalesce) est=$((est + ROUNDS * NC * 2 * 3 + 10)) ;;
    pass) est=$((est + $(nwords "$PASS_SIZES") * ROUNDS * (NC + 1) * (DURATION + 2) + (NC + 1) * 2 + 10)) ;;
    tls) est=$((est + ROUNDS * (2 * 4 + 4 * 3) * (DURATION + 1) + 20)) ;;
    esac
done
note "caches ${CACHES[*]}; scenarios ${SCENARIOS[*]}; DURATION=${DURATION}s ZIPF_DURATION=${ZIPF_DURATION}s" \
    "ROUNDS=$ROUNDS; expect about $(((est + 59) / 60)) minutes"
T0=$SECONDS

for s in "${SCENARIOS[@]}"; do
    case $s in
    hits) run_script hits hit-bench "${BOUND[hits]}" CACHES="${CACHES[*]}" SIZES="$HIT_SIZES" \
        RATE_SIZES="$RATE_SIZES" DURATION="$DURATION" ROUNDS="$ROUNDS" ;;
    zipf) run_script zipf zipf-bench "${BOUND[zipf]}" CACHES="${CACHES[*]}" DURATION="$ZIPF_DURATION" \
        ROUNDS="$ROUNDS" ;;
    coalesce) run_script coalesce coalesce-bench "${BOUND[coalesce]}" CACHES="${CACHES[*]}" ROUNDS="$ROUNDS" ;;
    pass) run_script pass proxy-bench "${BOUND[pass]}" CACHES="${CACHES[*]}" SIZES="$PASS_SIZES" \
        DURATION="$DURATION" ROUNDS="$ROUNDS" ;;
    tls)
        tc=""
        for t in "${CACHES[@]}"; do
            [[ $t =~ ^(accel|nginx|haproxy)$ ]] && tc+="${tc:+ }$t"
        done
        if [[ -n $tc ]]; then
            run_script tls tls-bench "${BOUND[tls]}" CACHES="$tc" DURATION="$DURATION" ROUNDS="$ROUNDS"
        else
            note "tls: none of accel, nginx, haproxy in CACHES: skipped"
        fi
        ;;
    esac
    sleep 1
done
ELAPSED=$((SECONDS - T0))
[[ -s $MANIFEST ]] || die "no benchmark produced a report: ${FAILED[*]}"

# ---- one table, one .tsv, one chart (python3: reads the scripts' .tsv files) --------------------
SUBTITLE="$(date '+%Y-%m-%d %H:%M') | $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), Linux $(uname -r) | one worker each, caches on CPU $PROXY_CPUS, load + origin on CPU $LOAD_CPUS | DURATION=${DURATION}s ROUNDS=$ROUNDS"
python3 - "$MANIFEST" "$TMP/table.txt" "$TSV" "$SVG" "$SUBTITLE" "${REPORT#"$ROOT"/}" <<'PY' || die "could not build the table"
import csv
import math
import sys
import textwrap
from xml.sax.saxutils import escape

manifest, out_table, out_tsv, out_svg, subtitle, report_name = sys.argv[1:7]
ORDER = ["accel", "accel-iovec", "accel-old", "nginx", "varnish", "haproxy", "accel-fixed", "origin"]
NAME = {"accel": "accel", "accel-iovec": "accel (TLS per iovec)", "accel-old": "accel-old", "nginx": "nginx",
        "varnish": "Varnish", "haproxy": "HAProxy", "accel-fixed": "accel-fixed (limit)", "origin": "origin (direct)"}
COLOR = {"accel": "#1f77b4", "accel-iovec": "#5a9bd4", "accel-old": "#8fb8de", "nginx": "#2ca02c",
         "varnish": "#9467bd", "haproxy": "#ff7f0e", "accel-fixed": "#9e9e9e", "origin": "#9e9e9e"}
CACHES = ORDER[:6]


def num(v):
    if v is None or v.strip() in ("", "-", "?", "nan"):
        return None
    try:
        x = float(v)
    except ValueError:
        return None
    return None if math.isnan(x) else x


def label(r):
    s = r["scenario"]
    if s.startswith("hits-") and s.endswith("-rate"):
        return "hit %s @%s/s" % (s[5:-5], r.get("rate", "?"))
    if s.startswith("hits-"):
        return "hit " + s[5:]
    if s == "zipf":
        return "zipf %sMiB" % r.get("budget_mib", "?")
    if s.startswith("coalesce-"):
        urls = int(num(r.get("urls")) or 1)
        per = round((num(r.get("clients")) or 0) / urls)
        return "coalesce %dx%d" % (urls, per)
    if s.startswith("pass-"):
        return "pass " + s[5:]
    if s.startswith("tls-hit-"):
        return "tls hit " + s[8:]
    if s.startswith("tls-"):  # tls-full-ecdsa: new connections/s in the req/s column
        return "tls %s handshakes %s (conn/s)" % tuple(s[4:].split("-", 1))
    return s


rows, scenarios, notes = [], [], []
with open(manifest) as m:
    for line in m:
        kind, tsv, txt = line.rstrip("\n").split("\t")
        with open(tsv) as f:
            for r in csv.DictReader(f, delimiter="\t"):
                r["_src"] = txt
                r["_label"] = label(r)
                rows.append(r)
                if r["scenario"] not in scenarios:
                    scenarios.append(r["scenario"])
                if r["scenario"] == "zipf" and r["cache"] == "nginx" and num(r.get("disk_mib")) is not None:
                    notes.append("nginx, %s: max_size=%sm, but its cache directory held %.0f MiB after the run "
                                 "(%.1fx the budget): max_size is enforced lazily by its cache manager, so that "
                                 "was its real budget, and its hit ratio is not comparable; its RSS does not "
                                 "hold the cache (files, in the page cache)."
                                 % (r["_label"], r.get("budget_mib", "?"), num(r["disk_mib"]),
                                    num(r["disk_mib"]) / (num(r.get("budget_mib")) or 1)))

# scenario, label, cache, rps, p99, hit, origin, rss, ratio, source, spread (% or None),
# cpu ms/1k, cpu ratio to accel, p50, rate
out = []
for sc in scenarios:
    rs = sorted((r for r in rows if r["scenario"] == sc),
                key=lambda r: ORDER.index(r["cache"]) if r["cache"] in ORDER else 99)
    base = next((num(r["req_s"]) for r in rs if r["cache"] == "accel"), None)
    cbase = next((num(r.get("cpu_ms_per_1k")) for r in rs if r["cache"] == "accel"), None)
    for r in rs:
        rps = num(r["req_s"])
        ratio = rps / base if rps is not None and base else None
        cpu = num(r.get("cpu_ms_per_1k"))
        cratio = cpu / cbase if cpu is not None and cbase else None
        out.append((sc, r["_label"], r["cache"], rps, num(r["p99_ms"]), num(r["hit_ratio"]),
                    num(r["origin_reqs"]), num(r["peak_rss_mib"]), ratio, r["_src"],
                    num((r.get("req_s_spread") or "-").rstrip("%")), cpu, cratio,
                    num(r.get("p50_ms")), num(r.get("rate"))))
main = [o for o in out if not o[0].endswith("-rate")]
rated = [o for o in out if o[0].endswith("-rate")]


def f_rps(v): return "-" if v is None else "%.0f" % v
def f_rps_sep(v): return "-" if v is None else "{:,.0f}".format(v)
def f_1(v): return "-" if v is None else "%.1f" % v
def f_hit(v): return "-" if v is None else "%.3f" % v
def f_orig(v): return "-" if v is None else ("%d" % round(v) if v >= 100 or abs(v - round(v)) < 0.05 else "%.1f" % v)
NOISY = 10  # % : rounds that disagree more than this are marked (bench/README.md: "the box was not quiet")
def f_ratio(v): return "-" if v is None else ("%.3fx" % v if v < 0.01 else "%.2fx" % v)
def f_2(v): return "-" if v is None else "%.2f" % v


head = ["scenario", "cache", "req/s ", "p99 ms", "cpu ms/1k req", "hit ratio", "origin reqs", "peak RSS MiB",
        "vs accel", "cpu vs accel"]
cells = [[o[1], NAME.get(o[2], o[2]), f_rps(o[3]) + ("*" if o[10] is not None and o[10] > NOISY else " "),
          f_1(o[4]), f_2(o[11]), f_hit(o[5]), f_orig(o[6]), f_1(o[7]), f_ratio(o[8]), f_ratio(o[12])] for o in main]
rhead = ["scenario", "cache", "rate req/s", "req/s", "p50 ms", "p99 ms", "cpu ms/1k req", "cpu vs accel",
         "origin reqs"]
rcells = [[o[1], NAME.get(o[2], o[2]), f_rps(o[14]), f_rps(o[3]), f_2(o[13]), f_2(o[4]), f_2(o[11]),
           f_ratio(o[12]), f_orig(o[6])] for o in rated]
late = [o for o in rated if o[3] is not None and o[14] and o[3] < 0.97 * o[14]]
if late:
    notes.append("at a fixed rate, fell behind it (above its ceiling or the load side's: its latency is "
                 "the queue's): " + ", ".join("%s %s (%s req/s)" % (NAME.get(o[2], o[2]), o[1], f_rps(o[3]))
                                               for o in late) + ".")
noisy = ["%s %s (+-%.0f%%)" % (NAME.get(o[2], o[2]), o[1], o[10]) for o in main if o[10] is not None and o[10] > NOISY]
if noisy:
    notes.insert(0, "* the rounds disagreed: half the range of req/s over the rounds above %d%% of the mean (see "
                 "the reports' runs): %s." % (NOISY, ", ".join(noisy)))
with open(out_table, "w") as t:
    def table(head, cells, rows):
        w = [max([len(head[i])] + [len(c[i]) for c in cells]) for i in range(len(head))]
        def line(c):
            t.write("  ".join(c[i].ljust(w[i]) if i < 2 else c[i].rjust(w[i]) for i in range(len(c))).rstrip() + "\n")
        line(head)
        prev = None
        for o, c in zip(rows, cells):
            if prev is not None and o[0] != prev:
                t.write("\n")
            prev = o[0]
            line(c)
    table(head, cells, main)
    if rated:
        t.write("\nhot hits at one fixed rate (accel-bench -r, open loop: latency from when each request was due), "
                "the same load for every cache:\n")
        table(rhead, rcells, rated)
    for n in notes:
        t.write("\n" + "\n".join(textwrap.wrap("note: " + n, 104, subsequent_indent="      ")) + "\n")

with open(out_tsv, "w") as t:
    t.write("\t".join(["scenario", "label", "cache", "req_s", "p99_ms", "hit_ratio", "origin_reqs",
                       "peak_rss_mib", "vs_accel", "req_s_spread", "report", "cpu_ms_per_1k", "cpu_vs_accel",
                       "p50_ms", "rate"]) + "\n")
    for o in main + rated:
        t.write("\t".join([o[0], o[1], o[2], f_rps(o[3]), f_1(o[4]) if o in main else f_2(o[4]), f_hit(o[5]),
                           f_orig(o[6]), f_1(o[7]), "-" if o[8] is None else "%.4f" % o[8],
                           "-" if o[10] is None else "%.0f%%" % o[10], o[9], f_2(o[11]),
                           "-" if o[12] is None else "%.4f" % o[12], f_2(o[13]), f_rps(o[14])]) + "\n")

# ---- the chart: grouped horizontal bars, req/s relative to accel, one group per scenario ---------
groups = []
for sc in scenarios:
    g = [o for o in main if o[0] == sc and o[8] is not None]
    if g:
        groups.append((g[0][1], g))
skipped = sorted({o[1] for o in main} - {g[0] for g in groups}, key=lambda l: [o[1] for o in main].index(l))
W, LW, RW, ROW, BAR, HEAD, GAP = 980, 190, 190, 19, 13, 22, 10
sub = textwrap.wrap(subtitle, 150)
foot = textwrap.wrap("Data: %s (and its .tsv). Grey bars are references, not caches: accel-fixed writes a fixed "
                     "answer without parsing (the box's limit for hits); origin (direct) is wrk straight to the "
                     "origin (the load side's limit for pass-through)." % report_name, 150)
if any(o[10] is not None and o[10] > NOISY for _, g in groups for o in g):
    foot += textwrap.wrap("* the rounds disagreed by more than %d%% (half the range of req/s over the rounds): "
                          "take it as noise." % NOISY, 150)
if skipped:
    foot += textwrap.wrap("Not drawn (no req/s, or no accel row to compare with): " + ", ".join(skipped)
                          + "; see the table.", 150)
TOP = 92 + 15 * len(sub)
PW = W - LW - RW
vmax = max([1.0] + [o[8] for _, g in groups for o in g])
step = 0.25 if vmax <= 2 else 0.5 if vmax <= 4 else 1.0 if vmax <= 10 else 5.0
xmax = math.ceil(vmax * 1.0001 / step) * step
def X(v): return LW + v / xmax * PW
height = TOP + sum(HEAD + ROW * len(g) + GAP for _, g in groups) + 40 + 15 * len(foot)
s = ['<?xml version="1.0" encoding="UTF-8"?>',
     '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
     'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">' % (W, height, W, height),
     '<title>accel compared: req/s relative to accel</title>',
     '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (W, height),
     '<text x="16" y="26" font-size="17" font-weight="bold">req/s relative to accel (1.00x = accel), per scenario</text>',
     ]
for i, t in enumerate(sub):
    s.append('<text x="16" y="%d" font-size="11" fill="#444">%s</text>' % (46 + 15 * i, escape(t)))
ly = 46 + 15 * len(sub)
lx = 16
legend = [(COLOR[c], NAME[c]) for c in CACHES if any(o[2] == c for _, g in groups for o in g)]
if any(o[2] in ("accel-fixed", "origin") for _, g in groups for o in g):
    legend.append(("#9e9e9e", "reference: accel-fixed (limit), origin (direct)"))
for color, text in legend:
    s.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (lx, ly, color))
    s.append('<text x="%d" y="%.1f">%s</text>' % (lx + 17, ly + 10.5, escape(text)))
    lx += 32 + 7 * len(text)
plot_top, plot_bot = TOP - 8, height - 32 - 15 * len(foot)
for i in range(int(round(xmax / step)) + 1):
    v = i * step
    s.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e3e3e3"/>' % (X(v), plot_top, X(v), plot_bot))
    s.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%gx</text>' % (X(v), plot_bot + 15, v))
s.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333" stroke-dasharray="4,3"/>'
         % (X(1), plot_top - 4, X(1), plot_bot))
s.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="#333">accel</text>' % (X(1), plot_top - 7))
y = TOP
for lab, g in groups:
    s.append('<text x="16" y="%d" font-weight="bold">%s</text>' % (y + 15, escape(lab)))
    y += HEAD
    for o in g:
        name = NAME.get(o[2], o[2])
        s.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (LW - 8, y + BAR - 2, escape(name)))
        tip = "%s, %s: %s req/s, p99 %s ms, %.2fx accel" % (name, lab, f_rps_sep(o[3]), f_1(o[4]), o[8])
        s.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>'
                 % (LW, y, max(X(o[8]) - LW, 1.0), BAR, COLOR.get(o[2], "#777"), escape(tip)))
        mark = " *" if o[10] is not None and o[10] > NOISY else ""
        s.append('<text x="%.1f" y="%d" stroke="#ffffff" stroke-width="3" paint-order="stroke">%s (%s req/s)%s</text>'
                 % (X(o[8]) + 5, y + BAR - 2, f_ratio(o[8]), f_rps_sep(o[3]), mark))
        y += ROW
    y += GAP
for i, t in enumerate(foot):
    s.append('<text x="16" y="%d" font-size="11" fill="#444">%s</text>' % (height - 12 - 15 * (len(foot) - 1 - i), escape(t)))
s.append("</svg>")
with open(out_svg, "w") as f:
    f.write("\n".join(s) + "\n")
PY

{
    echo "accel compare: ${CACHES[*]} side by side, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "caches: ${CACHES[*]}; scenarios: ${SCENARIOS[*]}; DURATION=${DURATION}s (hits, pass) ZIPF_DURATION=${ZIPF_DURATION}s" \
        "ROUNDS=$ROUNDS (interleaved within each script); workers: $WORKERS; CPU pinning: $PINNING;" \
        "took $((ELAPSED / 60)) min $((ELAPSED % 60)) s"
    echo "memory budget: 256 MiB each for hits and coalescing; ${BUDGET_MIB:-40} MiB for zipf (1/10 of its ~400 MiB" \
        "key space; nginx: see the note below); pass-through: accel's default 256 MiB, Varnish malloc 256 MiB," \
        "nginx and HAProxy without a cache"
    echo "accel: cache-lib.sh's config (listen, workers, origin, cache_memory, logs), accel's defaults otherwise" \
        "(gzip off, as cache-lib.sh writes it)${ACCEL_CONF_EXTRA:+, plus \"$ACCEL_CONF_EXTRA\" (not in pass-through: proxy-bench.sh has its own config)}"
    machine
    echo "$VERSIONS"
    echo
    cat "$TMP/table.txt"
    echo
    echo "scenarios: 'hit <size>' one cached URL, wrk -c64 (hit-bench.sh); 'zipf' cold start, 100,000 URLs of"
    echo "4 KiB with Zipf(0.99) keys, wrk -c64 (zipf-bench.sh); 'coalesce UxC' U cold URLs x C clients each, all"
    echo "at once, origin answers after ${DELAY:-500} ms (coalesce-bench.sh); 'pass <size>' an uncacheable no-store URL,"
    echo "wrk -c64 (proxy-bench.sh: nginx and HAProxy there are plain proxies, no cache configured); 'tls ...'"
    echo "over TLS 1.3 (tls-bench.sh): hits with wrk -c64 over keep-alive, and new connections/s (in the req/s"
    echo "column) of accel-tls-hs -c16, each a handshake, one GET and a close, full or resumed."
    echo "req/s and p99 are means over the rounds; for coalescing there is no req/s (one burst per run) and"
    echo "p99 is the clients' completion time from the common start (the floor is the origin's ${DELAY:-500} ms)."
    echo "hit ratio = 1 - origin requests / requests (or clients) over all rounds; origin reqs = origin"
    echo "requests per run (mean over the rounds); peak RSS = the highest VmHWM of the server's processes"
    echo "(summed) during one run (hits, coalesce, pass: reset before each run; zipf: since the cold start)."
    echo "'vs accel' = req/s / accel's req/s in the same scenario. 'accel-fixed (limit)' writes a fixed answer"
    echo "without parsing (the box's ceiling for hits); 'origin (direct)' is wrk straight to the origin."
    echo "'cpu ms/1k req' = the server's CPU time (utime + stime of its processes from /proc/<pid>/stat, sampled"
    echo "just before and after each run: exactly the load window) per 1000 requests answered (clients, for"
    echo "coalescing), mean over the rounds; 'cpu vs accel' = that / accel's. The fixed-rate table runs every"
    echo "target at the same open-loop rate (${RATE:+RATE=$RATE}${RATE:-RATE_PCT=${RATE_PCT:-60} % of the slowest target}) below its ceiling, so"
    echo "latency and CPU per hit compare at the same load.${ACCEL_OLD:+ accel-old is ACCEL_OLD=$ACCEL_OLD with the same configs.}"
    for f in "${FAILED[@]}"; do
        echo "FAILED: $f"
    done
    echo
    echo "reports (the numbers above come from their .tsv files; notes copied from them):"
    while IFS=$'\t' read -r _ _ txt; do
        echo "  $txt"
        sed -n 's/^note: /    note: /p' "$ROOT/$txt"
    done <"$MANIFEST"
    echo "commands:"
    for r in "${RAN[@]}"; do
        echo "  $r"
    done
} | tee "$REPORT"
note "written to ${REPORT#"$ROOT"/}, ${TSV#"$ROOT"/} and ${SVG#"$ROOT"/}"
