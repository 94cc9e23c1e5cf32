-- zipf.lua - wrk script for zipf-bench.sh: GET /z<k>?size=SIZE&cc=max-age%3D3600 with k drawn from
-- Zipf(s) over 1..N (k = 1 the most popular), from a fixed seed, so every run asks for the same
-- sequence of keys. Environment: ZIPF_KEYS (100000), ZIPF_S (0.99), ZIPF_SEED (42),
-- ZIPF_SIZE (4096). The CDF is computed once per wrk thread, in init().
local n = tonumber(os.getenv("ZIPF_KEYS") or "100000")
local s = tonumber(os.getenv("ZIPF_S") or "0.99")
local seed = tonumber(os.getenv("ZIPF_SEED") or "42")
local size = os.getenv("ZIPF_SIZE") or "4096"
local suffix = "?size=" .. size .. "&cc=max-age%3D3600"
local cdf = {}
local floor, random = math.floor, math.random

function init(args)
   local sum = 0
   for k = 1, n do
      sum = sum + k ^ -s
      cdf[k] = sum
   end
   for k = 1, n do
      cdf[k] = cdf[k] / sum
   end
   cdf[n] = 1.0
   math.randomseed(seed)
end

function request()
   local u = random()
   local lo, hi = 1, n
   while lo < hi do -- the first k with cdf[k] >= u
      local mid = floor((lo + hi) / 2)
      if cdf[mid] < u then
         lo = mid + 1
      else
         hi = mid
      end
   end
   return wrk.format("GET", "/z" .. lo .. suffix)
end
