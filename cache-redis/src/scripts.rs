//! The Lua scripts that make L2 writes and marks monotonic (a write never replaces an entry
//! with a later created stamp; a mark never moves backwards) and that publish the backplane
//! notice of a change in the same step, after it took effect, so a reader woken by the notice
//! always finds the change in Redis.

/// `KEYS[1]` entry key; `ARGV[1]` envelope, `ARGV[2]` its created stamp (8 bytes, big-endian),
/// `ARGV[3]` PX in ms, `ARGV[4]` backplane channel, `ARGV[5]` notice (empty: none), `ARGV[6]`
/// the length of undecodable bytes to replace (empty: none) and `ARGV[7]` their 8 bytes at the
/// stamp offset. Returns 1 when written, 0 when a newer entry (or invalidation) is stored.
///
/// Only a stored value that validates as a whole envelope header (length, magic, version, kind,
/// codec, every tag length within the value) can keep a write out by its stamp; anything else
/// (foreign bytes, a damaged header, another type: WRONGTYPE) is absent and overwritten, and so
/// are the undecodable bytes a reader described, whatever stamp they seem to carry.
pub(crate) const PUT_IF_NEWER: &str = r"
local function is_envelope(v)
  if type(v) ~= 'string' or string.len(v) < 47 then return false end
  if string.sub(v, 1, 2) ~= 'TC' or string.byte(v, 3) ~= 1 then return false end
  local kind, codec = string.byte(v, 4), string.byte(v, 5)
  if (kind ~= 0 and kind ~= 1) or codec < 1 or codec > 15 then return false end
  local n = string.byte(v, 46) * 256 + string.byte(v, 47)
  if n > 64 then return false end
  local at = 48
  for _ = 1, n do
    if at + 1 > string.len(v) then return false end
    at = at + 2 + string.byte(v, at) * 256 + string.byte(v, at + 1)
    if at - 1 > string.len(v) then return false end
  end
  return true
end
local current = redis.pcall('GET', KEYS[1])
local described = ARGV[6] ~= '' and type(current) == 'string'
  and string.len(current) == tonumber(ARGV[6]) and string.sub(current, 6, 13) == ARGV[7]
if not described and is_envelope(current) then
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
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return 1
";

/// [`PUT_IF_NEWER`] for the holder of the entry's load lock, which its write ends: `KEYS[2]`
/// the lock key, `ARGV[8]` the holder's token. The lock is released whatever the write's
/// outcome (the load is over either way), in the same atomic step, so no instance can take the
/// lock and not find the value.
pub(crate) fn put_and_unlock() -> String {
    format!(
        "if redis.call('GET', KEYS[2]) == ARGV[8] then redis.call('DEL', KEYS[2]) end
{PUT_IF_NEWER}"
    )
}

/// Compares two stamps written as 16 lowercase hex digits; true when `a` is later than `b`.
const LATER_HEX: &str = r"
local function later(a, b)
  if not a or string.len(a) ~= 16 then return false end
  for i = 1, 16 do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return false
end
";

/// Redis's clock in milliseconds (scripts replicate their effects, so `TIME` is allowed).
const NOW_MS: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
";

/// `KEYS[1]` clear-marks hash, `KEYS[2]` its log (a sorted set: the hash's fields by the Redis
/// time they were last set); `ARGV[1]` field, `ARGV[2]` stamp (16 hex digits), `ARGV[3]`
/// channel, `ARGV[4]` notice. Keeps the later of the stored and the given mark.
pub(crate) fn mark_cleared() -> String {
    format!(
        "{LATER_HEX}{NOW_MS}
local current = redis.call('HGET', KEYS[1], ARGV[1])
if later(current, ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now_ms(), ARGV[1])
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
"
    )
}

/// `KEYS[1]` clear-marks hash, `KEYS[2]` its log, `KEYS[3]` the tag-mark log; `ARGV[1]` since
/// (Redis ms), `ARGV[2]` the horizon in ms, `ARGV[3]` the page size. First forgets up to a page
/// of marks set more than the horizon ago (they cover only expired entries), then returns
/// `{cursor, more, fields, stamps, due}`: the marks set at or after `since`, a page at a time,
/// and up to a page of tag-mark log entries that are due (the caller forgets those marks). `cursor` is where the next
/// read starts (Redis's clock when the page is the last; else the last mark's time, read again
/// inclusively, or past a millisecond that alone filled a page).
pub(crate) fn sync_marks() -> String {
    format!(
        "{NOW_MS}
local now = now_ms()
local page = tonumber(ARGV[3])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - tonumber(ARGV[2])),
  'LIMIT', 0, page)
if #expired > 0 then
  redis.call('HDEL', KEYS[1], unpack(expired))
  redis.call('ZREM', KEYS[2], unpack(expired))
end
local since = tonumber(ARGV[1])
local found = redis.call('ZRANGEBYSCORE', KEYS[2], since, '+inf', 'WITHSCORES', 'LIMIT', 0, page)
local cursor, more = now, 0
if #found / 2 >= page then
  more = 1
  cursor = tonumber(found[#found])
  if cursor == since then
    found = redis.call('ZRANGEBYSCORE', KEYS[2], since, since, 'WITHSCORES')
    cursor = since + 1
  end
end
local fields, stamps = {{}}, {{}}
for i = 1, #found, 2 do fields[#fields + 1] = found[i] end
for i = 1, #fields, 500 do
  local chunk = redis.call('HMGET', KEYS[1], unpack(fields, i, math.min(i + 499, #fields)))
  for j = 1, #chunk do stamps[#stamps + 1] = chunk[j] or '' end
end
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, page)
return {{cursor, more, fields, stamps, due}}
"
    )
}

/// `KEYS[1]` tag-mark key; `ARGV[1]` stamp (16 hex digits), `ARGV[2]` channel, `ARGV[3]`
/// notice. Keeps the later mark. The mark has no TTL, so a `volatile-*` eviction policy cannot
/// drop it while entries it covers live: it is deleted by [`FORGET_TAG_MARK`] once its log entry
/// (see [`log_tag_mark`]) is due. Returns the stamp whose log entry is now redundant: the mark
/// it replaced (`''` when none), or `ARGV[1]` itself when a later mark is already stored.
pub(crate) fn mark_tag() -> String {
    format!(
        "{LATER_HEX}
local current = redis.pcall('GET', KEYS[1])
if type(current) == 'string' and later(current, ARGV[1]) then return ARGV[1] end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
if type(current) == 'string' and current ~= ARGV[1] then return current end
return ''
"
    )
}

/// `KEYS[1]` the tag-mark log (a sorted set in the clear marks' slot: member `<stamp>:<tag>`,
/// score the Redis time the mark may be forgotten); `ARGV[1]` member, `ARGV[2]` ttl in ms.
/// Written before the mark itself, so no mark exists without an entry that will forget it.
pub(crate) fn log_tag_mark() -> String {
    format!(
        "{NOW_MS}
redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
return 1
"
    )
}

/// `KEYS[1]` tag-mark key; `ARGV[1]` the stamp of a due log entry. Deletes the mark only if it
/// still is that stamp: a later invalidation of the tag wrote a new stamp (and its own entry).
pub(crate) const FORGET_TAG_MARK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
";

/// `KEYS[1]` the tag-mark log; `ARGV` members to drop.
pub(crate) const UNLOG_TAG_MARKS: &str = r"
redis.call('ZREM', KEYS[1], unpack(ARGV))
return 1
";

/// `KEYS[1]` lock key; `ARGV[1]` token; `ARGV[2]` ttl in ms. Takes the lock if it is free;
/// also answers 1 when the token already holds it, so a command the client re-sent after a
/// lost reply does not make the holder think someone else holds its lock.
pub(crate) const TRY_LOCK: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
";

/// `KEYS[1]` lock key, `KEYS[2]` entry key (one slot: see `Layout::lock_shares_slot`); `ARGV[1]` token;
/// `ARGV[2]` ttl in ms. [`TRY_LOCK`], and with the lock taken the entry as it is now, in the
/// same atomic step: `{0}` not taken; `{1}` taken, no entry; `{1, bytes}` taken, the entry;
/// `{2}` taken, the key holds something other than a string (a hash, a list: `GET` refuses it,
/// caught so that the lock stays taken and is answered for).
pub(crate) const TRY_LOCK_AND_READ: &str = r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
end
local entry = redis.pcall('GET', KEYS[2])
if type(entry) == 'table' and entry.err then return {2} end
if not entry then return {1} end
return {1, entry}
";

/// `KEYS[1]` lock key; `ARGV[1]` token; `ARGV[2]` ttl in ms. Extends the lock only if the token
/// still holds it.
pub(crate) const RENEW_LOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// `KEYS[1]` lock key; `ARGV[1]` token. Deletes the lock only if the token still holds it.
pub(crate) const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";
