#!/usr/bin/env bash
# Installs the dependencies, builds accel, starts the demo origin (a slow website: every
# answer takes 300 ms) and accel in front of it with ./accel.conf. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target accel accel-origin
build/accel -t -c accel.conf
build/accel-origin -l 127.0.0.1:8081 -d 300 &
origin=$!
trap 'kill $origin $accel 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
build/accel -c accel.conf &
accel=$!
sleep 0.5
cat <<TXT

accel is running on http://127.0.0.1:8080/ in front of the demo origin on 127.0.0.1:8081.
Try (every answer of the origin takes 300 ms; the second time it comes from the cache):
  curl -i http://127.0.0.1:8080/
  curl -s -o /dev/null -w '%{time_total}s\n' 'http://127.0.0.1:8080/hello?size=2k'   # twice
  curl -si 'http://127.0.0.1:8080/hello?size=2k' | grep -E 'X-Cache|Cache-Status|Age'
  curl -si 'http://127.0.0.1:8080/private?cc=private' | grep X-Cache            # PASS
  curl -s -o /dev/null -w '%{time_total}s\n' 'http://127.0.0.1:8080/slow?delay=1000'
Ctrl-C stops both.
TXT
wait $accel
