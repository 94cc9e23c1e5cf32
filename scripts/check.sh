#!/usr/bin/env bash
# Static checks: clang-format, banned calls, one-way dependencies, third-party headers at home.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src cache include tests bench -name '*.[ch]')
if ! clang-format --dry-run --Werror $files 2>/tmp/accel-format.txt; then
    echo "check: clang-format differences (run clang-format -i on these):"
    grep -o '^[^:]*:' /tmp/accel-format.txt | sort -u
    fail=1
fi
if grep -nE '\b(sprintf|strcpy|strcat|strtok|atoi|gets)\s*\(' $files | grep -v snprintf | grep -v vsnprintf; then
    echo "check: banned call above"; fail=1
fi
if ls cache/*.[ch] >/dev/null 2>&1; then
    if grep -nE '#include ["<](ev\.h|llhttp\.h|accel/(conn|worker|http|origin|conf|log)\.h)' cache/*.[ch]; then
        echo "check: cache/ must not include src/ modules, libev or llhttp"; fail=1
    fi
fi
if grep -lE '#include <openssl/' src/*.c cache/*.c 2>/dev/null | grep -v '^src/tls\.c$'; then
    echo "check: <openssl/*.h> belongs in src/tls.c only"; fail=1
fi
if grep -lE '#include <zlib\.h>' src/*.c cache/*.c 2>/dev/null | grep -v '^src/gz\.c$'; then
    echo "check: <zlib.h> belongs in src/gz.c only"; fail=1
fi
if grep -lE '#include <lmdb\.h>' src/*.c cache/*.c 2>/dev/null | grep -v '^cache/disk\.c$'; then
    echo "check: <lmdb.h> belongs in cache/disk.c only"; fail=1
fi
# Every socket call of the server goes through src/transport.c (TLS slots in there).
if grep -nE '\b(accept4?|bind|connect|getsockopt|getsockname|listen|recv|recvmsg|send|sendmsg|setsockopt|shutdown|socket|writev)\s*\(' src/*.c |
    grep -v '^src/transport\.c:' | grep -vE ':\s*(/\*|\*)'; then
    echo "check: socket calls belong in src/transport.c"; fail=1
fi
[ $fail -eq 0 ] && echo "check: ok"
exit $fail
