#!/usr/bin/env bash
# build-rev.sh - builds accel (and its bench binaries) of one git commit into a directory of its
# own, without touching the caller's work tree, index or worktree list: the commit's tree is
# exported with `git archive` into a scratch directory under /tmp, configured and built there
# (Release, no tests), and the binaries are copied to OUTDIR with a REVISION file naming the commit.
# The point: an "old accel" beside the new one in the same benchmark run,
#   bench/build-rev.sh main~1 /tmp/accel-before
#   ACCEL_OLD=/tmp/accel-before/accel SCENARIOS="hits coalesce pass" bench/compare.sh
#
# Usage: bench/build-rev.sh REV OUTDIR     (REV: anything `git rev-parse` takes: a hash, HEAD~3, a branch)
# Knobs (environment): JOBS=2 (parallel build jobs)  TARGETS="accel accel-origin accel-fixed accel-bench"
#   BUILD_TYPE=Release  KEEP_SRC=1 (keep the scratch source and build directory, for a look)
# OUTDIR gets accel (and whichever of the other TARGETS the commit has), and REVISION: the full
# hash, the short hash and the subject on one line (read by cache-lib.sh for the report).
set -uo pipefail

die() {
    echo "build-rev: $*" >&2
    exit 1
}

(($# == 2)) || die "usage: bench/build-rev.sh REV OUTDIR"
REV=$1 OUT=$2
JOBS=${JOBS:-2}
BUILD_TYPE=${BUILD_TYPE:-Release}
read -r -a TARGETS <<<"${TARGETS:-accel accel-origin accel-fixed accel-bench}"
[[ $JOBS =~ ^[0-9]+$ && $JOBS -gt 0 ]] || die "JOBS must be a positive number"
command -v cmake >/dev/null || die "cmake not found"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHA=$(git -C "$REPO" rev-parse --verify --quiet "$REV^{commit}") || die "'$REV' is not a commit of $REPO"
SHORT=$(git -C "$REPO" rev-parse --short "$SHA")
SUBJECT=$(git -C "$REPO" log -1 --format=%s "$SHA" | cut -c1-100)

mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
SCRATCH=$(mktemp -d "/tmp/accel-rev-$SHORT.XXXXXX") || die "mktemp failed"
cleanup() {
    if [[ ${KEEP_SRC:-0} == 1 ]]; then
        echo "build-rev: source and build kept in $SCRATCH" >&2
    else
        rm -rf "$SCRATCH"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "build-rev: $SHORT ($SUBJECT) -> $OUT" >&2
mkdir -p "$SCRATCH/src"
git -C "$REPO" archive --format=tar "$SHA" | tar -x -C "$SCRATCH/src" || die "git archive $SHORT failed"
cmake -S "$SCRATCH/src" -B "$SCRATCH/build" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DACCEL_TESTS=OFF \
    >"$SCRATCH/cmake.log" 2>&1 || die "cmake failed: $(tail -n 5 "$SCRATCH/cmake.log" | tr '\n' ' ')"
built=()
for t in "${TARGETS[@]}"; do
    if cmake --build "$SCRATCH/build" -j"$JOBS" --target "$t" >>"$SCRATCH/build.log" 2>&1; then
        cp -f "$SCRATCH/build/$t" "$OUT/$t" && built+=("$t")
    elif [[ $t == accel ]]; then
        die "building accel of $SHORT failed: $(tail -n 5 "$SCRATCH/build.log" | tr '\n' ' ')"
    else
        echo "build-rev: $t does not build at $SHORT (skipped)" >&2
    fi
done
printf '%s %s %s\n' "$SHA" "$SHORT" "$SUBJECT" >"$OUT/REVISION"
echo "build-rev: built ${built[*]} of $SHORT in $OUT" >&2
echo "$OUT/accel"
