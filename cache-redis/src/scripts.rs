//! The Lua scripts that make L2 writes and clear marks monotonic: a write never replaces an
//! entry with a later created stamp; a clear mark never moves backwards.

/// `KEYS[1]` entry key; `ARGV[1]` envelope, `ARGV[2]` its created stamp (8 bytes, big-endian),
/// `ARGV[3]` PX in ms. Returns 1 when written, 0 when a newer entry (or invalidation) is stored.
/// Anything that is not one of our envelopes (foreign bytes, another type) is overwritten.
pub(crate) const PUT_IF_NEWER: &str = r"
local current = redis.pcall('GET', KEYS[1])
if type(current) == 'string' and string.len(current) >= 13
    and string.sub(current, 1, 2) == 'TC' and string.byte(current, 3) == 1 then
  local stored = string.sub(current, 6, 13)
  local incoming = ARGV[2]
  for i = 1, 8 do
    local a, b = string.byte(stored, i), string.byte(incoming, i)
    if a ~= b then
      if a > b then return 0 end
      break
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
";

/// `KEYS[1]` clear-marks hash; `ARGV[1]` field, `ARGV[2]` stamp as 16 lowercase hex digits.
/// Keeps the later of the stored and the given mark.
pub(crate) const MARK_CLEARED: &str = r"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and string.len(current) == 16 then
  for i = 1, 16 do
    local a, b = string.byte(current, i), string.byte(ARGV[2], i)
    if a ~= b then
      if a > b then return 0 end
      break
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
";
