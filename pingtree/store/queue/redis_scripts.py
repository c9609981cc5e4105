"""The Lua scripts of the Redis delivery queue (redis.py): every change is one script, atomic
across every router that shares the server.

Every queue script starts with the same KEYS and ARGV (`QueueKeys.script_keys`, `script_args`):
KEYS stream, delayed, turns, leases, finished, seq; ARGV group, then the prefixes of the keys named
by job id or destination (job hashes, ready sets, listings), which a script builds itself because
which jobs it will touch is only known once it runs. All of them carry the queue's one hash tag,
so they share KEYS[1]'s Cluster slot. A script's own arguments start at ARGV[5] (KEYS[7]).

Times are the caller's (`now`, seconds, as Python's repr of a float) and are passed through as the
strings they came as: Lua's tostring would round them to 14 digits.
"""

from __future__ import annotations

_PRELUDE = """
local stream, delayed, turns = KEYS[1], KEYS[2], KEYS[3]
local leases, finished, seq = KEYS[4], KEYS[5], KEYS[6]
local group, job_prefix, ready_prefix, index_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local function job(id) return job_prefix .. id end

-- A job's rank is its enqueue number (16 digits) and its id: ties of created_at go in that order.
local function id_of(rank) return string.sub(rank, 18) end

-- The listings: by state ('any': every state), and by state within a destination.
local function index(state, key)
  if key then return index_prefix .. state .. ':' .. key end
  return index_prefix .. state
end

local function move(rank, key, created, from, to)
  redis.call('ZREM', index(from), rank)
  redis.call('ZREM', index(from, key), rank)
  redis.call('ZADD', index(to), created, rank)
  redis.call('ZADD', index(to, key), created, rank)
end

-- A destination's turn: the one job of it in the stream (unread, or read and leased). `advance`
-- gives a destination without one its oldest due job; an unread job gives its turn back to an
-- older one that came due since (a retry), so a destination's jobs go in order of sale.
local function advance(key)
  local ready = ready_prefix .. key
  local first = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  if #first == 0 then return end
  local holder = redis.call('HGET', turns, key)
  if holder then
    local held = redis.call('HMGET', job(holder), 'state', 'created_at', 'rank', 'entry')
    if held[1] == 'leased' then return end
    if held[1] == 'waiting' then
      local mine, theirs = tonumber(held[2]), tonumber(first[2])
      if mine < theirs or (mine == theirs and held[3] < first[1]) then return end
      if held[4] then redis.call('XDEL', stream, held[4]) end
      redis.call('HDEL', job(holder), 'entry')
      redis.call('ZADD', ready, held[2], held[3])
    end
  end
  redis.call('ZREM', ready, first[1])
  local id = id_of(first[1])
  redis.call('HSET', job(id), 'entry', redis.call('XADD', stream, '*', 'job', id))
  redis.call('HSET', turns, key, id)
end

-- A consumer with nothing pending leaves the group (XREADGROUP makes it again when it reads), so
-- the group does not collect one consumer per router restart, and XINFO CONSUMERS shows who holds
-- what.
local function forget_if_idle(consumer)
  if consumer and #redis.call('XPENDING', stream, group, '-', '+', 1, consumer) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', stream, group, consumer)
  end
end
"""

# ARGV[5..]: per job, id, key, created_at, due_at, n, then n field/value pairs of its hash.
# A job id already there is left alone (the same webhook-id twice is one job). → jobs added
ENQUEUE = (
    _PRELUDE
    + """
local i, added = 5, 0
while i <= #ARGV do
  local id, key, created, due = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local n = tonumber(ARGV[i + 4])
  if redis.call('EXISTS', job(id)) == 0 then
    local rank = string.format('%016d', redis.call('INCR', seq)) .. ':' .. id
    redis.call('HSET', job(id), 'rank', rank, unpack(ARGV, i + 5, i + 4 + 2 * n))
    -- Every new job waits in the delayed set, even one due at once: `claim` knows `now`.
    redis.call('ZADD', delayed, due, id)
    for _, state in ipairs({'any', 'waiting'}) do
      redis.call('ZADD', index(state), created, rank)
      redis.call('ZADD', index(state, key), created, rank)
    end
    added = added + 1
  end
  i = i + 5 + 2 * n
end
return added
"""
)

# ARGV[5] consumer, now, leased_until, lease token, limit, most delayed jobs to move at once.
# → the leased jobs' hashes (HGETALL)
CLAIM = (
    _PRELUDE
    + """
local consumer, now, leased_until, token = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local limit, promote_max = tonumber(ARGV[9]), tonumber(ARGV[10])
redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')  -- BUSYGROUP once it exists

local claimed = {}
local function lease(id)
  local f = redis.call('HMGET', job(id), 'state', 'key', 'created_at', 'rank')
  if not f[1] then
    redis.call('ZREM', leases, id)
    return
  end
  if f[1] ~= 'leased' then move(f[4], f[2], f[3], f[1], 'leased') end
  redis.call('HSET', job(id), 'state', 'leased', 'lease', token, 'leased_until', leased_until,
    'consumer', consumer)
  redis.call('ZADD', leases, leased_until, id)
  table.insert(claimed, redis.call('HGETALL', job(id)))
end

-- 1. Leases that ran out on the caller's clock (XAUTOCLAIM's idle time is Redis's): their
-- consumer died or stalled, and this one takes their stream entries over, attempt unchanged.
local gone = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, limit)) do
  local held = redis.call('HMGET', job(id), 'entry', 'consumer')
  if held[1] then redis.call('XCLAIM', stream, group, consumer, 0, held[1], 'JUSTID') end
  if held[2] and held[2] ~= consumer then gone[held[2]] = true end
  lease(id)
end
for previous in pairs(gone) do forget_if_idle(previous) end

-- 2. Delayed jobs now due join their destination's ready set; destinations get their turns in
-- order of their oldest job.
local touched, heads = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, promote_max)) do
  redis.call('ZREM', delayed, id)
  local f = redis.call('HMGET', job(id), 'key', 'created_at', 'rank')
  if f[1] then
    redis.call('ZADD', ready_prefix .. f[1], f[2], f[3])
    touched[f[1]] = true
  end
end
for key in pairs(touched) do
  local first = redis.call('ZRANGE', ready_prefix .. key, 0, 0, 'WITHSCORES')
  table.insert(heads, {key, tonumber(first[2]), first[1]})
end
table.sort(heads, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[3] < b[3]) end)
for _, head in ipairs(heads) do advance(head[1]) end

-- 3. Unread entries: each the oldest due job of a destination nobody is delivering to.
if limit > #claimed then
  local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', limit - #claimed,
    'STREAMS', stream, '>')
  if read then
    for _, entry in ipairs(read[1][2]) do
      local id = entry[2][2]
      if redis.call('EXISTS', job(id)) == 1 then
        lease(id)
      else
        redis.call('XACK', stream, group, entry[1])
        redis.call('XDEL', stream, entry[1])
      end
    end
  end
end
return claimed
"""
)

# ARGV[5] id, lease token, state, attempt, due_at, target, last_error, has_error ('1'/'0'),
# history line, finished_at ('' unless finished), now. Only under the lease it names. → 1 | 0
SETTLE = (
    _PRELUDE
    + """
local id, token, state, due_at, now = ARGV[5], ARGV[6], ARGV[7], ARGV[9], ARGV[15]
local j = job(id)
local f = redis.call('HMGET', j, 'state', 'lease', 'key', 'created_at', 'rank', 'entry', 'history',
  'consumer')
if f[1] ~= 'leased' or f[2] ~= token then return 0 end
local key, created, rank = f[3], f[4], f[5]
if f[6] then
  redis.call('XACK', stream, group, f[6])
  redis.call('XDEL', stream, f[6])
end
forget_if_idle(f[8])
redis.call('ZREM', leases, id)
if redis.call('HGET', turns, key) == id then redis.call('HDEL', turns, key) end
local history = ARGV[13]
if f[7] then history = f[7] .. '\\n' .. history end
redis.call('HDEL', j, 'lease', 'leased_until', 'consumer', 'entry', 'last_error', 'finished_at')
redis.call('HSET', j, 'state', state, 'attempt', ARGV[8], 'due_at', due_at, 'target', ARGV[10],
  'history', history)
if ARGV[12] == '1' then redis.call('HSET', j, 'last_error', ARGV[11]) end
move(rank, key, created, 'leased', state)
if state ~= 'waiting' then
  redis.call('HSET', j, 'finished_at', ARGV[14])
  redis.call('ZADD', finished, ARGV[14], id)
elseif tonumber(due_at) <= tonumber(now) then
  redis.call('ZADD', ready_prefix .. key, created, rank)
else
  redis.call('ZADD', delayed, due_at, id)
end
advance(key)
return 1
"""
)

# ARGV[5] id, now. A waiting job due now; → 1, or 0 when it is not waiting.
RETRY_NOW = (
    _PRELUDE
    + """
local id, now = ARGV[5], ARGV[6]
local f = redis.call('HMGET', job(id), 'state', 'due_at')
if f[1] ~= 'waiting' then return 0 end
if tonumber(f[2]) > tonumber(now) then
  redis.call('HSET', job(id), 'due_at', now)
  if redis.call('ZSCORE', delayed, id) then redis.call('ZADD', delayed, now, id) end
end
return 1
"""
)

# ARGV[5] id, now. A dead or disabled job back to waiting, due now, from attempt 0 on the
# primary URL; → 1, or 0 when it is not finished badly, or was erased.
REPLAY = (
    _PRELUDE
    + """
local id, now = ARGV[5], ARGV[6]
local f = redis.call('HMGET', job(id), 'state', 'key', 'created_at', 'rank', 'erased')
if (f[1] ~= 'dead' and f[1] ~= 'disabled') or f[5] then return 0 end
redis.call('HSET', job(id), 'state', 'waiting', 'due_at', now, 'attempt', 0, 'target', 'primary')
redis.call('HDEL', job(id), 'finished_at')
redis.call('ZREM', finished, id)
move(f[4], f[2], f[3], f[1], 'waiting')
redis.call('ZADD', delayed, now, id)
return 1
"""
)

# ARGV[5] now, the reason, then job ids. Each job not erased yet loses its body and its URLs'
# queries (as settle.py's without_query cuts them) and is marked erased (REPLAY refuses it); one
# not delivered yet leaves the stream, its turn, its lease and the waiting sets, and ends dead.
# → how many were erased
ERASE = (
    _PRELUDE
    + """
local now, reason, erased = ARGV[5], ARGV[6], 0
local function cut(url) return string.match(url, '^[^?#]*') end
for i = 7, #ARGV do
  local id = ARGV[i]
  local j = job(id)
  local f = redis.call('HMGET', j, 'state', 'key', 'created_at', 'rank', 'entry', 'consumer',
    'url', 'failover_url', 'erased')
  if f[1] and not f[9] then
    local state, key, rank = f[1], f[2], f[4]
    if state == 'waiting' or state == 'leased' then
      if f[5] then
        redis.call('XACK', stream, group, f[5])
        redis.call('XDEL', stream, f[5])
      end
      if f[6] then forget_if_idle(f[6]) end
      redis.call('ZREM', leases, id)
      redis.call('ZREM', delayed, id)
      redis.call('ZREM', ready_prefix .. key, rank)
      if redis.call('HGET', turns, key) == id then redis.call('HDEL', turns, key) end
      redis.call('HDEL', j, 'lease', 'leased_until', 'consumer', 'entry')
      redis.call('HSET', j, 'state', 'dead', 'finished_at', now)
      redis.call('ZADD', finished, now, id)
      move(rank, key, f[3], state, 'dead')
      advance(key)
    end
    if state ~= 'delivered' then redis.call('HSET', j, 'last_error', reason) end
    redis.call('HSET', j, 'body', '', 'url', cut(f[7]), 'erased', '1')
    if f[8] then redis.call('HSET', j, 'failover_url', cut(f[8])) end
    erased = erased + 1
  end
end
return erased
"""
)

# ARGV[5] cutoff (jobs finished before it go), most jobs at once. → how many were looked at
PURGE = (
    _PRELUDE
    + """
local ids = redis.call('ZRANGEBYSCORE', finished, '-inf', '(' .. ARGV[5], 'LIMIT', 0, ARGV[6])
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', job(id), 'state', 'key', 'rank')
  redis.call('ZREM', finished, id)
  if f[1] then
    redis.call('DEL', job(id))
    for _, state in ipairs({'any', f[1]}) do
      redis.call('ZREM', index(state), f[3])
      redis.call('ZREM', index(state, f[2]), f[3])
    end
  end
end
return #ids
"""
)

# KEYS[7] a listing · ARGV[5] limit. → the hashes of its newest jobs
LIST = (
    _PRELUDE
    + """
local found = {}
for _, rank in ipairs(redis.call('ZREVRANGE', KEYS[7], 0, tonumber(ARGV[5]) - 1)) do
  local fields = redis.call('HGETALL', job(id_of(rank)))
  if #fields > 0 then table.insert(found, fields) end
end
return found
"""
)

# The sales ledger, on its own hash tag. KEYS rows, every buyer's, this buyer's · ARGV member
# ("<lead>\\t<buyer>"), sold_at, the row. The first row of a (lead, buyer) is kept. → 1 | 0
RECORD_SALE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
"""

# KEYS rows, every buyer's · ARGV before (excluded), the ledger's key prefix ("<p>:{s}:sales"),
# batch. The oldest rows, their buyer's index entries too. → how many were removed
PURGE_SALES = """
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(old) do
  local buyer = string.match(member, '\t(.*)$')
  redis.call('HDEL', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
  if buyer then redis.call('ZREM', ARGV[2] .. ':buyer:' .. buyer, member) end
end
return #old
"""

# KEYS rows · ARGV per row: member, the row as read, the row erased. A row is replaced only if it
# is still the one read (a purge may have taken it since). → how many were replaced
ERASE_SALES = """
local replaced = 0
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    replaced = replaced + 1
  end
end
return replaced
"""

# KEYS a ledger index, rows · ARGV start, end (excluded), offset, count. → {member, sold_at, row}…
SALES = """
local found = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '(' .. ARGV[2], 'WITHSCORES',
  'LIMIT', ARGV[3], ARGV[4])
local rows = {}
for i = 1, #found, 2 do
  table.insert(rows, {found[i], found[i + 1], redis.call('HGET', KEYS[2], found[i])})
end
return rows
"""
