"""The Lua scripts of the Redis store: every change that takes more than one command is one script,
so it is atomic across every router process that shares the server.

Conventions every script keeps:
- A record is a hash whose field `exp` is its logical expiry in milliseconds of the router's clock,
  passed in as `now`; a record with `exp <= now` is gone (and deleted on sight). The router's clock
  is not Redis's (tests move it by days), so expiry is decided here, not by Redis; each key also has
  a relative PEXPIRE of the same length, so Redis drops it on its own too.
- Every key a script touches is in KEYS (Redis Cluster routes by them) and all of them share one
  hash tag (see `StateKeys` in store/redis_keys.py).
- Money is integer cents: HINCRBY, never floats.
"""

from __future__ import annotations

# Shared by the scripts below; Lua has no imports, so each script is this prelude plus its body.
_PRELUDE = """
local function live(key, now)
  local exp = redis.call('HGET', key, 'exp')
  if exp and tonumber(exp) > now then return true end
  redis.call('DEL', key)
  return false
end

local function field(key, name)
  return tonumber(redis.call('HGET', key, name) or '0')
end
"""

# KEYS[1] the (seller, key) record, a hash: fp, owner (the auction holding the key, or a random
# token), lease (ms), chain (every auction that has owned it, space-separated, oldest first) and,
# once there is one, answer, by (the id of the outcome answered) and verdict ('1' when the answer
# is a takeover's verdict about an earlier owner).
# ARGV now, exp, ttl_ms, fingerprint, owner, lease_until, lead ('' when the owner is no auction)
# → {'claimed'} | {'conflict'} | {'done', answer} | {'inflight', owner, lease ('' if none)}
#   | {'takeover', the chain before this claim}
CLAIM_IDEMPOTENCY = (
    _PRELUDE
    + """
local key, now = KEYS[1], tonumber(ARGV[1])
local owner, lease_until, lead = ARGV[5], ARGV[6], ARGV[7]
if live(key, now) then
  local record = redis.call('HMGET', key, 'fp', 'answer', 'owner', 'lease', 'chain')
  if record[1] ~= ARGV[4] then return {'conflict'} end
  if record[2] then return {'done', record[2]} end
  if record[3] == owner then return {'claimed'} end  -- this very claim, sent again
  if not record[4] then return {'inflight', record[3], ''} end
  if tonumber(record[4]) > now then return {'inflight', record[3], record[4]} end
  -- The owner's lease ran out unanswered: this claim takes the key over.
  local chain = record[5] or ''
  local grown = chain
  if lead ~= '' then
    if chain == '' then grown = lead else grown = chain .. ' ' .. lead end
  end
  redis.call('HSET', key, 'owner', owner, 'lease', lease_until, 'chain', grown)
  return {'takeover', chain}
end
redis.call('HSET', key, 'exp', ARGV[2], 'fp', ARGV[4], 'owner', owner, 'lease', lease_until,
  'chain', lead)
redis.call('PEXPIRE', key, ARGV[3])
return {'claimed'}
"""
)

# KEYS[1] the record · ARGV now, answer, the answered outcome's id, the claiming auction ('' for a
# caller that does not say: it answers whatever the record holds), fingerprint, exp, ttl_ms (these
# two for a record made again). A record kept keeps its expiry: an answer does not extend it.
# → 'answered' | 'superseded' | 'conflict' | 'taken' (store/base.py, AnswerWrite)
COMPLETE_IDEMPOTENCY = (
    _PRELUDE
    + """
local key, now = KEYS[1], tonumber(ARGV[1])
local answer, by, claimer, fp = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local verdict = '0'
if claimer ~= '' and by ~= claimer then verdict = '1' end
local function write()
  redis.call('HSET', key, 'answer', answer, 'by', by, 'verdict', verdict)
  return 'answered'
end
if not live(key, now) then
  -- The claim is gone (expired, or lost with Redis's data): the answer makes the record again,
  -- so a resend is answered rather than auctioned a second time.
  local owner = claimer
  if owner == '' then owner = by end
  redis.call('HSET', key, 'exp', ARGV[6], 'fp', fp, 'owner', owner, 'lease', ARGV[1],
    'chain', claimer)
  redis.call('PEXPIRE', key, ARGV[7])
  return write()
end
local record = redis.call('HMGET', key, 'fp', 'owner', 'chain', 'answer', 'by', 'verdict')
if record[1] ~= fp then return 'conflict' end
if claimer == '' then return write() end
-- A takeover that knew of this auction answers the key from its outcome or journal.
local chain = ' ' .. (record[3] or '') .. ' '
local superseded = record[2] ~= claimer and string.find(chain, ' ' .. claimer .. ' ', 1, true)
if record[4] then
  -- The auction a takeover's verdict was about finished after all: its own answer wins.
  if record[6] == '1' and record[5] == claimer and by == claimer then return write() end
  if record[5] == by then return 'answered' end
  if superseded then return 'superseded' end
  return 'taken'
end
if superseded then return 'superseded' end
-- Its owner, or a claim made without knowing of this auction (the record was lost, then a
-- resend claimed the key): this auction ran first, its answer is the answer.
return write()
"""
)

# KEYS[1] the record · ARGV now, the claiming auction ('' for a caller that does not say).
# → 1 freed, 0 not (another auction owns the key now, or it has its answer)
ABANDON_IDEMPOTENCY = (
    _PRELUDE
    + """
local key = KEYS[1]
if not live(key, tonumber(ARGV[1])) then return 0 end
if ARGV[2] ~= '' then
  local record = redis.call('HMGET', key, 'owner', 'answer')
  if record[1] ~= ARGV[2] or record[2] then return 0 end
end
redis.call('DEL', key)
return 1
"""
)

# The cap and dedup checks, shared by `check`, `reserve` and `admit`.
# KEYS: hour counter, day counter, held marker, dedup claims (up to KEYS[last])...
# ARGV: now, lead_id, hourly, daily, budget_cents ('' = no such cap), price_cents, ...
# Mirrors pingtree.core.rules.cap_reason; the contract suite runs both stores on the same cases.
_REFUSAL = """
local function refusal(now, last)
  local lead = ARGV[2]
  for i = 4, last do
    if live(KEYS[i], now) and redis.call('HGET', KEYS[i], 'lead') ~= lead then
      return 'dedup'
    end
  end
  local hourly, daily, budget = ARGV[3], ARGV[4], ARGV[5]
  if hourly == '' and daily == '' and budget == '' then return false end
  local hour_count, day_count, day_spend = 0, 0, 0
  if live(KEYS[1], now) then hour_count = field(KEYS[1], 'n') end
  if live(KEYS[2], now) then
    day_count = field(KEYS[2], 'n')
    day_spend = field(KEYS[2], 'cents')
  end
  if hourly ~= '' and hour_count + 1 > tonumber(hourly) then return 'cap:hourly' end
  if daily ~= '' and day_count + 1 > tonumber(daily) then return 'cap:daily' end
  if budget ~= '' then
    budget = tonumber(budget)
    if day_spend + tonumber(ARGV[6]) > budget or day_spend >= budget then return 'cap:budget' end
  end
  return false
end
"""

# → false (nil) when the buyer would take a sale, else the reason.
CHECK = (
    _PRELUDE
    + _REFUSAL
    + """
return refusal(tonumber(ARGV[1]), #KEYS)
"""
)

# ARGV as CHECK, then: hour_exp, hour_ttl_ms, day_exp, day_ttl_ms, held_ttl_ms, dedup_exp,
# dedup_ttl_ms. All or nothing: a refused sale takes no slot and no dedup claim.
# → 'ok' | the reason
RESERVE = (
    _PRELUDE
    + _REFUSAL
    + """
local now = tonumber(ARGV[1])
local reason = refusal(now, #KEYS)
if reason then return reason end
local function count(key, exp, ttl_ms)
  if not live(key, now) then
    redis.call('HSET', key, 'exp', exp, 'n', 0, 'cents', 0)
    redis.call('PEXPIRE', key, ttl_ms)
  end
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HINCRBY', key, 'cents', ARGV[6])
end
count(KEYS[1], ARGV[7], ARGV[8])
count(KEYS[2], ARGV[9], ARGV[10])
-- Held until released or confirmed (as MemoryStore's `_held`: one marker per buyer and lead).
redis.call('SET', KEYS[3], 1, 'PX', ARGV[11])
for i = 4, #KEYS do
  if tonumber(ARGV[13]) > 0 then
    redis.call('HSET', KEYS[i], 'exp', ARGV[12], 'lead', ARGV[2])
    redis.call('PEXPIRE', KEYS[i], ARGV[13])
  else
    redis.call('DEL', KEYS[i])
  end
end
return 'ok'
"""
)

# KEYS as CHECK · ARGV now, lead_id, -price_cents (negated by the caller: Lua would write -0,
# which HINCRBY refuses). Frees the slot and the lead's dedup claims once:
# a second release, or a release after confirm, finds no held marker and frees nothing.
RELEASE = (
    _PRELUDE
    + """
local now = tonumber(ARGV[1])
if redis.call('DEL', KEYS[3]) == 0 then return 0 end
for i = 1, 2 do
  if live(KEYS[i], now) then
    local n = redis.call('HINCRBY', KEYS[i], 'n', -1)
    if n < 0 then redis.call('HSET', KEYS[i], 'n', 0) end
    local cents = redis.call('HINCRBY', KEYS[i], 'cents', ARGV[3])
    if cents < 0 then redis.call('HSET', KEYS[i], 'cents', 0) end
  end
end
for i = 4, #KEYS do
  if live(KEYS[i], now) and redis.call('HGET', KEYS[i], 'lead') == ARGV[2] then
    redis.call('DEL', KEYS[i])
  end
end
return 1
"""
)

# KEYS[1] the lead's journal, a list whose first item is its logical expiry and the rest the
# buyers posted to, in order; KEYS[2] its seal, a hash {exp} set when another router takes the lead
# over · ARGV now, exp, ttl_ms, buyer_id. Each post extends the expiry.
# → 1 journaled, 0 sealed (nothing written: the post must not go out)
JOURNAL_POST = (
    _PRELUDE
    + """
local key, now = KEYS[1], tonumber(ARGV[1])
if live(KEYS[2], now) then return 0 end
local exp = redis.call('LINDEX', key, 0)
if exp and tonumber(exp) > now then
  redis.call('LSET', key, 0, ARGV[2])
else
  redis.call('DEL', key)
  redis.call('RPUSH', key, ARGV[2])
end
redis.call('RPUSH', key, ARGV[4])
redis.call('PEXPIRE', key, ARGV[3])
return 1
"""
)

# KEYS as JOURNAL_POST · ARGV now, exp, ttl_ms. Seals the journal and returns it as it stands
# (the list as LRANGE gives it: its expiry first, then the buyers).
SEAL_JOURNAL = """
redis.call('HSET', KEYS[2], 'exp', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return redis.call('LRANGE', KEYS[1], 0, -1)
"""

# KEYS[1] · ARGV exp, ttl_ms, value: a whole record replaced, with its expiry.
PUT_RECORD = """
redis.call('HSET', KEYS[1], 'exp', ARGV[1], 'value', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
"""

# The circuit breaker, pingtree/core/breaker.py's state machine in Lua: one round trip, no retries.
# (A WATCH/MULTI transaction around the Python functions was tried first: every concurrent record
# on one buyer makes the others retry, so 50 at once took 195 ms against 38 ms for one script
# each, and the gap grows with the square of the concurrency.) The tests run random call sequences
# through both and require the same answers and the same states.
# KEYS[1] the buyer's breaker: a hash (recent '1'/'0' newest last, open_until ms or '', probing
# '1'/'0'); absent = closed with a clean window. ARGV now, open_until if it opens now, ttl_ms, then
# for a record: the calls ('1' ok, '0' failed, oldest first: one or many), window, min_calls,
# failure_ratio. A record → 1 when the breaker is open after it, 0 when closed.

# → 2 admitted (closed), 1 admitted (the probe), 0 not. An open breaker whose cooldown passed lets
# one probe through.
_BREAKER_ADMIT = """
local function breaker_admit(key, now, open_until_if_opens, ttl_ms)
  local open_until = redis.call('HGET', key, 'open_until')
  if not open_until or open_until == '' then return 2 end
  if now < tonumber(open_until) then return 0 end
  redis.call('HSET', key, 'probing', '1', 'open_until', open_until_if_opens)
  redis.call('PEXPIRE', key, ttl_ms)
  return 1
end
"""

BREAKER_ADMIT = _BREAKER_ADMIT + (
    "return breaker_admit(KEYS[1], tonumber(ARGV[1]), ARGV[2], ARGV[3])"
)

# One buyer's admission to a ping phase (`admit`): CHECK, then, if the caps would take a sale,
# BREAKER_ADMIT; the breaker is not asked (no probe taken) for a buyer its caps refuse.
# KEYS: CHECK's when ARGV[9] is '1' (none otherwise), then the breaker's when ARGV[10] is '1'
# ARGV: CHECK's six, then BREAKER_ADMIT's open_until and ttl_ms, check caps, ask the breaker
# → {reason or '', 2 admitted by a closed breaker (or not asked) | 1 the probe | 0 not}
ADMIT = (
    _PRELUDE
    + _REFUSAL
    + _BREAKER_ADMIT
    + """
local now, last = tonumber(ARGV[1]), #KEYS
if ARGV[10] == '1' then last = last - 1 end
if ARGV[9] == '1' then
  local reason = refusal(now, last)
  if reason then return {reason, 0} end
end
if ARGV[10] == '1' then return {'', breaker_admit(KEYS[#KEYS], now, ARGV[7], ARGV[8])} end
return {'', 2}
"""
)

BREAKER_RECORD = """
local key, now, oks = KEYS[1], tonumber(ARGV[1]), ARGV[4]
local state = redis.call('HMGET', key, 'recent', 'open_until', 'probing')
local recent, open_until, probing = state[1] or '', state[2] or '', state[3] == '1'
local changed = false
for i = 1, #oks do
  local ok = string.sub(oks, i, i)
  if open_until ~= '' then
    -- An answer to a call admitted before the breaker opened changes nothing; a probe's does:
    -- closed with a clean window, or open for another cooldown.
    if probing then
      if ok == '1' then recent, open_until = '', '' else recent, open_until = '', ARGV[2] end
      probing, changed = false, true
    end
  else
    recent = string.sub(recent .. ok, -tonumber(ARGV[5]))
    local _, failures = string.gsub(recent, '0', '')
    if #recent >= tonumber(ARGV[6]) and failures / #recent >= tonumber(ARGV[7]) then
      recent, open_until = '', ARGV[2]
    end
    changed = true
  end
end
if changed then
  if recent == '' and open_until == '' then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 'recent', recent, 'open_until', open_until, 'probing', '0')
    redis.call('PEXPIRE', key, ARGV[3])
  end
end
if open_until ~= '' then return 1 end
return 0
"""
