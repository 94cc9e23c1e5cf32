#!/usr/bin/env python3
"""zipf-lru.py - the hit ratio of an ideal LRU cache on zipf-bench.sh's workload (for its report).

Draws REQUESTS keys from Zipf(s) over KEYS keys (the same distribution as bench/zipf.lua, not the
same pseudo-random sequence), starting from an empty cache holding CAPACITY objects, and prints
the hit ratio over all requests (cold start included, as a benchmark run sees it).

usage: zipf-lru.py REQUESTS [CAPACITY=8000] [KEYS=100000] [S=0.99] [SEED=42]
"""
import bisect
import collections
import itertools
import random
import sys


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    reqs = int(sys.argv[1])
    cap = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    keys = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
    s = float(sys.argv[4]) if len(sys.argv) > 4 else 0.99
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 42
    cdf = list(itertools.accumulate(k ** -s for k in range(1, keys + 1)))
    total = cdf[-1]
    cdf = [c / total for c in cdf]
    rng = random.Random(seed)
    lru = collections.OrderedDict()
    hits = 0
    for _ in range(reqs):
        k = bisect.bisect_left(cdf, rng.random())
        if k in lru:
            lru.move_to_end(k)
            hits += 1
        else:
            lru[k] = None
            if len(lru) > cap:
                lru.popitem(last=False)
    print(f"{hits / reqs if reqs else 0:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
