#!/usr/bin/env bash
# Runs the public HTTP cache test suite (github.com/http-tests/cache-tests) against the built
# accel, started with the repository's accel.conf pointed at the suite's origin server.
#
#   bench/cache-tests.sh /path/to/cache-tests [accel-binary] [-- extra accel.conf lines]
#
# The checkout needs `npm install` done beforehand (the run itself uses no network). Prints the
# score (required tests passed/failed, optimal and check tests) and the failing required tests;
# the raw results are left in $OUT (default /tmp/accel-cache-tests.json). Not part of CI.
# ORIGIN_PORT and ACCEL_PORT choose the ports (default 18000 and 18080); ID=<test-id> runs one
# test and shows its exchange.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ct=${1:?usage: bench/cache-tests.sh /path/to/cache-tests [accel-binary] [-- conf lines]}
shift
accel=${here}/build/accel
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    accel=$1
    shift
fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
ct=$(cd "$ct" && pwd)
oport=${ORIGIN_PORT:-18000}
aport=${ACCEL_PORT:-18080}
out=${OUT:-/tmp/accel-cache-tests.json}
tmp=$(mktemp -d /tmp/accel-cache-tests.XXXXXX)
[ -d "$ct/node_modules" ] || { echo "cache-tests: run 'npm install' in $ct first" >&2; exit 1; }
[ -x "$accel" ] || { echo "cache-tests: no accel binary at $accel" >&2; exit 1; }

pids=()
cleanup()
{
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# The repository's defaults, with our ports and the error log in a file; then the extra lines.
sed -e "s|^listen .*|listen 127.0.0.1:${aport}|" -e "s|^origin .*|origin 127.0.0.1:${oport}|" \
    -e "s|^error_log .*|error_log ${tmp}/error.log warn|" "$here/accel.conf" >"$tmp/accel.conf"
for line in "$@"; do
    name=${line%% *}
    if grep -q "^${name} " "$tmp/accel.conf"; then
        sed -i "s|^${name} .*|${line}|" "$tmp/accel.conf"
    else
        echo "$line" >>"$tmp/accel.conf"
    fi
done
[ $# -gt 0 ] && printf 'cache-tests: accel.conf changed: %s\n' "$*" >&2

# What `npm run server` and `npm run cli` would set from package.json and the command line.
export npm_config_port=$oport npm_config_protocol=http npm_config_pidfile=$tmp/origin.pid
export npm_config_base=http://127.0.0.1:${aport} npm_config_id=${ID:-} npm_package_config_id=
(cd "$ct" && exec node test-engine/server/server.mjs) >"$tmp/origin.log" 2>&1 </dev/null &
pids+=($!)
"$accel" -c "$tmp/accel.conf" >"$tmp/accel.out" 2>&1 </dev/null &
pids+=($!)
for _ in $(seq 50); do
    if curl -s -o /dev/null "http://127.0.0.1:${aport}/" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

cd "$ct"
if [ -n "${ID:-}" ]; then
    node --no-warnings test-engine/cli.mjs
    exit 0
fi
node --no-warnings test-engine/cli.mjs >"$out"
RESULTS=$out node --input-type=module -e '
import fs from "fs";
import tests from "'"$ct"'/tests/index.mjs";
import { determineTestResult, resultTypes } from "'"$ct"'/test-engine/lib/results.mjs";
const results = JSON.parse(fs.readFileSync(process.env.RESULTS, "utf8"));
const count = {};
const failed = [];
for (const suite of tests) {
  for (const t of suite.tests) {
    if (results[t.id] === undefined) continue;
    const r = determineTestResult(tests, t.id, results);
    const name = Object.keys(resultTypes).find(k => resultTypes[k] === r);
    const kind = t.kind || "required";
    count[kind] = count[kind] || {};
    count[kind][name] = (count[kind][name] || 0) + 1;
    if (kind === "required" && name !== "pass")
      failed.push(`${name.padEnd(15)} ${t.id}: ${Array.isArray(results[t.id]) ? results[t.id][1] : ""}`);
  }
}
for (const k of Object.keys(count))
  console.log(k.padEnd(9), Object.entries(count[k]).map(([n, v]) => `${n} ${v}`).join(", "));
console.log("required, not passed:");
for (const f of failed) console.log("  " + f);
'
