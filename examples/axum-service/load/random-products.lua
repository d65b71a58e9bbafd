-- Requests /products/{id} for ids drawn uniformly from 1..RANGE (env, default 1000000), so a
-- large range is miss-heavy (almost every request loads from the slow origin) and a small one
-- is hit-heavy.
-- SUFFIX="/uncached" asks for the same products without the cache.
local range = tonumber(os.getenv("RANGE") or "1000000")
local suffix = os.getenv("SUFFIX") or ""
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  return wrk.format("GET", "/products/" .. math.random(1, range) .. suffix)
end
