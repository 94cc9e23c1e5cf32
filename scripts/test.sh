#!/usr/bin/env bash
# The whole test suite, as CI runs it: dependencies, formatting and layering checks, a Release
# build with every test (unit, end-to-end), then an AddressSanitizer + UBSan build with every
# test again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/check.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure --no-tests=error)

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure --no-tests=error)
