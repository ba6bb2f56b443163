-- Continuous-refill token buckets, checked and debited atomically, plus the plan quota (see gateway/rate_limit.py).
--
-- KEYS[1..4]  bucket hashes: tenant requests, tenant tokens, key requests, key tokens
-- KEYS[5]     optional: the tenant's quota hash (aiaas.quota); absent = do not look at the quota
-- ARGV[1]     "acquire" or "settle"
-- ARGV[2..5]  capacity per bucket (the per-minute limit); 0 = unlimited, the key is never touched
-- ARGV[6]     acquire: cost of one request in the request buckets (1)
--             settle:  ignored
-- ARGV[7]     acquire: estimated tokens, debited from the token buckets
--             settle:  actual - estimated, debited (or credited when negative) from the token buckets
-- ARGV[8..9]  settle: tokens and requests added to the quota hash (aiaas.quota.ADD_USAGE_LUA); may be
--             negative, returning an admission's reservation
--
-- `quota_check` and `quota_add` are aiaas.quota's CHECK_LUA and ADD_USAGE_LUA, prepended as functions
-- by rate_limit.py, so billing's contract has one source. On acquire the quota is checked first; a request
-- it refuses debits no bucket; an admitted one reserves 1 request and its estimated tokens in the quota
-- hash at once, so concurrent admissions see each other. On settle the quota gets the difference.
--
-- Each bucket hash holds `level` (may be negative: debt) and `ts` (Redis server time, ms). A missing hash
-- is a full bucket. Returns "allowed|level1|level2|level3|level4|quota_exceeded|quota_reserved|quota_limit_name"
-- (the limit name last, as it may hold a "|"); levels are "" for unlimited buckets. On acquire the levels
-- are after the debit when allowed, and untouched (nothing is written) when rejected. quota_exceeded is
-- "tokens" or "requests" when the quota refused, else ""; quota_reserved is 1 when a reservation was made.

local WINDOW_MS = 60000
local is_token_bucket = {false, true, false, true}

local mode = ARGV[1]
local quota_key = KEYS[5]

local quota_exceeded, quota_limit_name = '', ''
if quota_key then
    if mode == 'acquire' then
        local verdict = quota_check({quota_key})
        if verdict[1] == 0 then
            quota_exceeded, quota_limit_name = verdict[2], verdict[3]
        end
    else
        quota_add({quota_key}, {ARGV[8], ARGV[9]})
    end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

local request_cost = tonumber(ARGV[6])
local token_amount = tonumber(ARGV[7])

local caps, levels = {}, {}
for i = 1, 4 do
    local cap = tonumber(ARGV[i + 1])
    caps[i] = cap
    if cap > 0 then
        local stored = redis.call('HMGET', KEYS[i], 'level', 'ts')
        local level = cap
        if stored[1] then
            local elapsed = math.max(0, now - tonumber(stored[2]))
            level = math.min(cap, tonumber(stored[1]) + elapsed * cap / WINDOW_MS)
        end
        levels[i] = level
    end
end

local function charge(i)
    if is_token_bucket[i] then return token_amount end
    return request_cost
end

local allowed = 1
if quota_exceeded ~= '' then
    allowed = 0
elseif mode == 'acquire' then
    for i = 1, 4 do
        if caps[i] > 0 then
            -- A cost above capacity can never fit: it needs a full bucket instead, then leaves debt.
            local need = math.min(math.max(charge(i), 1), caps[i])
            if levels[i] < need then allowed = 0 end
        end
    end
end

local out = {allowed}
for i = 1, 4 do
    local cap = caps[i]
    if cap > 0 then
        if allowed == 1 and (mode == 'acquire' or is_token_bucket[i]) then
            local level = math.min(cap, levels[i] - charge(i))
            levels[i] = level
            local ms_to_full = math.ceil((cap - level) * WINDOW_MS / cap)
            redis.call('HSET', KEYS[i], 'level', string.format('%.17g', level), 'ts', string.format('%.17g', now))
            -- A full bucket and a missing one mean the same thing, so the key may vanish once full.
            redis.call('PEXPIRE', KEYS[i], math.max(ms_to_full, 0) + 1000)
        end
        out[i + 1] = string.format('%.17g', levels[i])
    else
        out[i + 1] = ''
    end
end
local quota_reserved = 0
if quota_key and mode == 'acquire' and allowed == 1 then
    quota_reserved = quota_add({quota_key}, {ARGV[7], 1})
end
out[6] = quota_exceeded
out[7] = quota_reserved
out[8] = quota_limit_name
-- One bulk string rather than an array: a client parses it at a fraction of the cost.
return table.concat(out, '|')
