#!/usr/bin/env bash
# Static checks: clang-format, banned calls, and an allow-list of what each folder includes:
#   cache/ (and the headers of its modules in include/accel/): of our headers only accel/base.h,
#     the headers of cache/ modules and cache/obj_int.h (the object's layout, cache/'s alone);
#   src/: any accel/ header and its own private headers, never cache/obj_int.h;
#   tests/unit/: cache/obj_int.h only in the tests of cache/ modules (they look inside objects);
#   third-party headers at home: ev.h in src/ (and src/ modules' headers), llhttp.h in src/http.c
#     and accel/http.h, zlib.h in src/gz.c, openssl/ in src/tls.c, lmdb.h in cache/disk.c,
#     xxhash.h in cache/key.c and cache/fmt.c.
# The linker enforces the same boundary (accel_cache links alone, see CMakeLists.txt).
# Include cycles between modules are reported as warnings (not failures yet).
# scripts/check.sh --graph prints the include graph of src/ and cache/ modules as well.
set -euo pipefail
cd "$(dirname "$0")/.."
graph=0
if [ "${1:-}" = "--graph" ]; then
    graph=1
elif [ $# -gt 0 ]; then
    echo "usage: scripts/check.sh [--graph]" >&2
    exit 2
fi
fail=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src cache include tests bench -name '*.[ch]')
fmt_out=$(mktemp)
trap 'rm -f "$fmt_out"' EXIT
if ! clang-format --dry-run --Werror $files 2>"$fmt_out"; then
    echo "check: clang-format differences (run clang-format -i on these):"
    grep -o '^[^:]*:' "$fmt_out" | sort -u
    fail=1
fi
if grep -nE '\b(sprintf|strcpy|strcat|strtok|atoi|gets)\s*\(' $files | grep -v snprintf | grep -v vsnprintf; then
    echo "check: banned call above"; fail=1
fi

# --- includes: an allow-list per folder -------------------------------------------------------
# The modules of cache/: one cache/<m>.c each, its header accel/<m>.h (base has accel/base.h).
cache_mods=$(for f in cache/*.c; do basename "$f" .c; done | sort)
is_cache_mod() { grep -qx "$1" <<<"$cache_mods"; }

# includes <file>: one "<" or '"' followed by the header name per line
includes() {
    sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*([<"])([^>"]+)[>"].*/\1\2/p' "$1"
}

# The homes of third-party headers: a file outside them that includes one fails.
third_party_ok() { # <file> <header>
    case "$2" in
    ev.h) [[ $1 == src/* ]] || { [[ $1 == include/accel/* ]] && ! is_cache_mod "$(basename "$1" .h)"; } ;;
    llhttp.h) [[ $1 == src/http.c || $1 == include/accel/http.h ]] ;;
    zlib.h) [[ $1 == src/gz.c ]] ;;
    openssl/*) [[ $1 == src/tls.c ]] ;;
    lmdb.h) [[ $1 == cache/disk.c ]] ;;
    xxhash.h) [[ $1 == cache/key.c || $1 == cache/fmt.c ]] ;;
    criterion/*) [[ $1 == tests/* ]] ;;
    *) return 0 ;; # the C library and the system
    esac
}

for f in src/*.[ch] cache/*.[ch] include/accel/*.h tests/unit/*.c; do
    [ -e "$f" ] || continue
    side=src
    case "$f" in
    cache/*) side=cache ;;
    include/accel/*) is_cache_mod "$(basename "$f" .h)" && side=cache ;;
    tests/*) side="test" ;;
    esac
    while IFS= read -r inc; do
        q=${inc:0:1} h=${inc:1}
        if [ "$q" = "<" ]; then
            if [[ $f != tests/* ]] && ! third_party_ok "$f" "$h"; then
                echo "check: $f includes <$h>, which belongs elsewhere (see scripts/check.sh)"
                fail=1
            fi
            continue
        fi
        case "$side:$h" in
        cache:accel/base.h | cache:cache/obj_int.h) ;;
        cache:accel/*.h)
            if ! is_cache_mod "$(basename "$h" .h)"; then
                echo "check: $f includes \"$h\": cache/ includes only accel/base.h and cache/ modules' headers"
                fail=1
            fi
            ;;
        cache:*)
            echo "check: $f includes \"$h\": cache/ includes only accel/base.h and cache/ modules' headers"
            fail=1
            ;;
        src:accel/*.h) ;;
        src:*_int.h)
            [ -e "src/$h" ] || { echo "check: $f includes \"$h\": not a header of src/"; fail=1; }
            ;;
        src:*)
            echo "check: $f includes \"$h\": src/ includes accel/ headers and its own *_int.h"
            fail=1
            ;;
        test:cache/obj_int.h)
            m=$(basename "$f" .c)
            if ! is_cache_mod "${m#test_}"; then
                echo "check: $f includes cache/obj_int.h: only the tests of cache/ modules look inside objects"
                fail=1
            fi
            ;;
        test:*) ;;
        esac
    done < <(includes "$f")
done

# --- the include graph of modules and its cycles -----------------------------------------------
# A module is src/<m>.c or cache/<m>.c with its header accel/<m>.h; a .c without a header of its
# own that includes <m>_int.h is part of module m (src/cachepath.c, src/pass.c, src/h1out.c: conn). An edge
# m -> n: a file of m (its .c files, its headers) includes n's header.
mod_of_c() { # <file.c>
    local m
    m=$(basename "$1" .c)
    if [ ! -e "include/accel/$m.h" ] && [ "$m" != main ]; then
        local own
        own=$(includes "$1" | sed -nE 's/^"([a-z0-9_]+)_int\.h$/\1/p' | head -1)
        [ -n "$own" ] && m=$own
    fi
    echo "$m"
}
mod_of_h() { # <header as included>
    local h=${1#\"}
    case "$h" in
    accel/*.h) basename "$h" .h ;;
    *_int.h) basename "$h" _int.h ;;
    esac
}
edges=$(
    for f in src/*.c cache/*.c; do
        m=$(mod_of_c "$f")
        hdrs="$f"
        [ -e "include/accel/$m.h" ] && hdrs="$hdrs include/accel/$m.h"
        for p in src/"$m"_int.h cache/"$m"_int.h; do [ -e "$p" ] && hdrs="$hdrs $p"; done
        for x in $hdrs; do
            includes "$x" | grep '^"' | while IFS= read -r inc; do
                n=$(mod_of_h "${inc#\"}")
                [ -n "$n" ] && [ "$n" != "$m" ] && echo "$m $n"
            done
        done
    done | sort -u
)
if [ $graph -eq 1 ]; then
    for f in src/*.c cache/*.c; do echo "$(mod_of_c "$f") $f"; done |
        awk '{f[$1] = f[$1] " " $2; n[$1]++} END {for (m in f) if (n[m] > 1) print m ":" f[m]}' |
        sort | sed 's/^/module of several files: /'
    echo "include graph (module -> the modules whose headers it includes):"
    awk '{d[$1] = d[$1] " " $2} END {for (m in d) print "  " m " ->" d[m]}' <<<"$edges" | sort
fi
# Strongly connected components of more than one module (Tarjan's algorithm).
cycles=$(awk '
    { adj[$1] = adj[$1] " " $2; nodes[$1] = 1; nodes[$2] = 1 }
    function visit(v,    ws, n, i, w, comp) {
        index_[v] = low[v] = ++counter; stack[++sp] = v; onstack[v] = 1
        n = split(adj[v], ws, " ")
        for (i = 1; i <= n; i++) {
            w = ws[i]
            if (!(w in index_)) { visit(w); if (low[w] < low[v]) low[v] = low[w] }
            else if (onstack[w] && index_[w] < low[v]) low[v] = index_[w]
        }
        if (low[v] == index_[v]) {
            comp = ""; n = 0
            do { w = stack[sp--]; onstack[w] = 0; comp = w (comp == "" ? "" : " ") comp; n++ } while (w != v)
            if (n > 1) print comp
        }
    }
    END { for (v in nodes) if (!(v in index_)) visit(v) }' <<<"$edges")
if [ -n "$cycles" ]; then
    while IFS= read -r c; do
        echo "check: warning: include cycle between modules: $(tr ' ' '\n' <<<"$c" | sort | tr '\n' ' ')"
    done <<<"$cycles"
fi
# Every socket call of the server goes through src/transport.c (TLS slots in there).
if grep -nE '\b(accept4?|bind|connect|getsockopt|getsockname|listen|recv|recvmsg|send|sendmsg|setsockopt|shutdown|socket|writev)\s*\(' src/*.c |
    grep -v '^src/transport\.c:' | grep -vE ':\s*(/\*|\*)'; then
    echo "check: socket calls belong in src/transport.c"; fail=1
fi

[ $fail -eq 0 ] && echo "check: ok"
exit $fail
