"""The Lua scripts: each runs atomically on the Redis server, on the server's clock (``TIME``).

Times inside the scripts are integer microseconds of the server's clock; durations returned to
Python are microseconds or milliseconds as named. Every script touches keys of one hash tag
only, so it runs unchanged on Redis Cluster.
"""

from __future__ import annotations

import hashlib

import attrs

__all__ = [
    "ADJUST",
    "BREAKER_PUBLISH",
    "BREAKER_SYNC",
    "GCRA",
    "HEADERS",
    "PING",
    "Script",
]


@attrs.frozen
class Script:
    name: str
    source: str
    sha: str = attrs.field(init=False)

    @sha.default
    def _sha(self) -> str:
        return hashlib.sha1(self.source.encode()).hexdigest()


_NOW = """
local now
if ARGV[#ARGV] ~= '' then now = tonumber(ARGV[#ARGV]) else
  local t = redis.call('TIME'); now = tonumber(t[1]) * 1000000 + tonumber(t[2]) end
local function store(key, tat)
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 1)
end
"""

#: One admission across all four dimensions, all or nothing (GCRA, "virtual scheduling").
#: KEYS: tat[1..4], pause, budget[1..4]. ARGV: interval[1..4] (us per unit, 0 = unlimited),
#: tolerance[1..4] (us), need[1..4], now override ('' = server TIME).
#: Returns {admitted 0/1, wait in us, server now in us}.
GCRA = Script(
    "gcra",
    _NOW
    + """
local wait = 0
local p = redis.call('PTTL', KEYS[5])
if p > 0 then wait = p * 1000 end
local new = {}
for d = 1, 4 do
  local e = tonumber(ARGV[d]); local tau = tonumber(ARGV[4 + d]); local need = tonumber(ARGV[8 + d])
  if e > 0 and need > 0 then
    local tat = tonumber(redis.call('GET', KEYS[d]) or '0')
    if tat < now then tat = now end
    local cost = need * e
    local at = tat + cost - math.max(tau, cost)
    local nt = math.ceil(tat + cost)
    if at > now then wait = math.max(wait, at - now) end
    new[d] = nt
  end
  local b = redis.call('GET', KEYS[5 + d])
  if b and need > tonumber(b) then
    local bp = redis.call('PTTL', KEYS[5 + d])
    if bp > 0 then wait = math.max(wait, bp * 1000) end
  end
end
if wait > 0 then return {0, math.ceil(wait), now} end
for d = 1, 4 do
  if new[d] then store(KEYS[d], new[d]) end
  local need = tonumber(ARGV[8 + d])
  if need > 0 and redis.call('EXISTS', KEYS[5 + d]) == 1 then
    redis.call('DECRBY', KEYS[5 + d], need)
  end
end
return {1, 0, now}
""",
)

#: Charge (delta > 0) or refund (delta < 0) after the response. A refund never takes the
#: schedule below now: capacity already unused cannot be given back twice.
#: KEYS: tat[1..4], budget[1..4]. ARGV: interval[1..4], delta[1..4], now override.
ADJUST = Script(
    "adjust",
    _NOW
    + """
for d = 1, 4 do
  local e = tonumber(ARGV[d]); local delta = tonumber(ARGV[4 + d])
  if e > 0 and delta ~= 0 then
    local tat = tonumber(redis.call('GET', KEYS[d]) or '0')
    if delta > 0 then
      store(KEYS[d], math.ceil(math.max(tat, now) + delta * e))
    elseif tat > now then
      store(KEYS[d], math.max(now, math.ceil(tat + delta * e)))
    end
  end
  if delta ~= 0 and redis.call('EXISTS', KEYS[4 + d]) == 1 then
    redis.call('DECRBY', KEYS[4 + d], delta)
  end
end
return 1
""",
)

#: A provider's rate-limit headers: budgets (newest wins) and a pause that never shortens.
#: KEYS: pause, budget[1..4]. ARGV: pause ms (0: none), then remaining[1..4] (-1: absent),
#: reset ms[1..4].
HEADERS = Script(
    "headers",
    """
local pause = tonumber(ARGV[1])
if pause > 0 and redis.call('PTTL', KEYS[1]) < pause then
  redis.call('SET', KEYS[1], '1', 'PX', pause)
end
for d = 1, 4 do
  local remaining = tonumber(ARGV[1 + d]); local reset = tonumber(ARGV[5 + d])
  if remaining >= 0 and reset > 0 then
    redis.call('SET', KEYS[1 + d], remaining, 'PX', reset)
  end
end
return 1
""",
)

#: A breaker's own transition. KEYS: state, probe. ARGV: 'open' | 'closed', open ms, the next
#: nominal open duration (s), node id. An open period is only ever extended.
BREAKER_PUBLISH = Script(
    "breaker_publish",
    """
if ARGV[1] == 'open' then
  local ms = tonumber(ARGV[2])
  local cur = redis.call('GET', KEYS[1])
  if not (cur and string.sub(cur, 1, 5) == 'open:' and redis.call('PTTL', KEYS[1]) >= ms) then
    redis.call('SET', KEYS[1], 'open:' .. ARGV[3], 'PX', ms)
  end
else
  redis.call('SET', KEYS[1], 'closed', 'PX', 86400000)
end
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
return 1
""",
)

#: Read the shared breaker state; take (want 1) or renew (want 2) the half-open probe lease.
#: KEYS: state, probe. ARGV: want, node id, lease ms.
#: Returns {state ('' when none), state pttl ms, lease held 0/1, lease pttl ms}.
BREAKER_SYNC = Script(
    "breaker_sync",
    """
local st = redis.call('GET', KEYS[1]) or ''
local held = 0
if ARGV[1] == '1' and st == '' then
  if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then held = 1
  elseif redis.call('GET', KEYS[2]) == ARGV[2] then held = 1 end
elseif ARGV[1] == '2' and redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3])); held = 1
end
return {st, redis.call('PTTL', KEYS[1]), held, redis.call('PTTL', KEYS[2])}
""",
)

#: The reconnection probe when no breaker needs polling.
PING = Script("ping", "return 1")
