/*
 * Redis layout (prefix `pl:` by default; see docs/RELAY.md):
 *   {p}mb:{id}      hash  r=read-cap hash, e=expiry ms, ip=owner, n=last seq, np=nameplate,
 *                         cm=claims that may post (code mailboxes), ib=1 (inboxes)
 *   {p}mb:{id}:w    set   a handshake mailbox's write-cap hashes (a code mailbox's: the claims
 *                         that have posted)
 *   {p}mb:{id}:i    set   an inbox's writers' write-cap hashes (apart from :w, so that a post to a
 *                         handshake mailbox finds its writer without asking whether it is an inbox)
 *   {p}mb:{id}:u    list  unused claims' write-cap hashes (at most 32, the oldest dropped)
 *   {p}mb:{id}:m    list  "seq:base64url body"
 *   {p}mb:{id}:a    list  an inbox's: the writer of each message in :m, in the same order
 *   {p}mb:{id}:c    hash  an inbox's: write-cap hash -> its messages pending (absent at zero)
 *   {p}gone:{id}    string  tombstone of a deleted mailbox, until it would have expired
 *   {p}np:{name}    hash  mb=mailbox id
 *   {p}ip:{ip}      zset  mailbox ids owned by the address, scored by expiry
 *   {p}all          zset  every mailbox id and tombstone, scored by expiry (gauge and global cap)
 *   {p}inboxes      zset  inbox ids, scored by expiry (the inbox gauges)
 *   {p}iw           hash  inbox id -> its writers; {p}iwn: their sum (the writer gauge)
 *   channel {p}events   JSON MailboxEvent, so a post on one instance reaches sockets on all
 * Every mailbox key carries PEXPIREAT of its mailbox, so Redis itself forgets what expires, and
 * state survives a relay restart. {p}inboxes, {p}iw and {p}iwn are brought up to date with what
 * expired when an inbox is created and when the gauges are read. Each operation is one Lua
 * script: atomic, one round trip; but an inbox's post, which takes two (plAppend finds an inbox,
 * plInboxAppend posts to it), so that a handshake mailbox's post pays nothing for inboxes.
 */

const EXPIRE_AT_LEAST = `
local function expire_at_least(key, at)
  if redis.call('PTTL', key) == -1 then redis.call('PEXPIREAT', key, at) else redis.call('PEXPIREAT', key, at, 'GT') end
end
`;

// The inbox gauges' keys: {p}inboxes, {p}iw, {p}iwn.
const INBOX_GAUGES = `
local function forget_inbox(inboxes, counts, total, id)
  local n = redis.call('HGET', counts, id)
  if n then
    redis.call('DECRBY', total, n)
    redis.call('HDEL', counts, id)
  end
  redis.call('ZREM', inboxes, id)
end
local function forget_expired_inboxes(inboxes, counts, total, now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', inboxes, '-inf', now)) do forget_inbox(inboxes, counts, total, id) end
end
`;

/**
 * A post's last step, either kind: the next sequence number, the message stored and published,
 * `{1, seq}` answered. Inlined Lua (no function: a closure made on every call costs the hot path).
 */
const storeMessage = (body: string, channel: string, id: string) => `
local seq = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('RPUSH', KEYS[2], seq .. ':' .. ${body})
redis.call('PEXPIREAT', KEYS[2], e)
redis.call('PUBLISH', ${channel}, cjson.encode({type = 'message', mailbox = ${id}, message = {seq = seq, body = ${body}}}))
return {1, seq}`;

export const SCRIPTS = {
  // KEYS: mb, w (an inbox's: i), ipz, all, gone, inboxes, iw, iwn | ARGV: readHash, expiresAt, ip, id, now, inbox (0|1), writeHash...
  plCreate: {
    numberOfKeys: 8,
    lua: `${EXPIRE_AT_LEAST}${INBOX_GAUGES}
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'e', ARGV[2], 'ip', ARGV[3], 'n', 0)
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'ib', 1) end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
if #ARGV >= 7 then
  for i = 7, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
  redis.call('PEXPIREAT', KEYS[2], ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
expire_at_least(KEYS[3], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[4])
if ARGV[6] == '1' then
  forget_expired_inboxes(KEYS[6], KEYS[7], KEYS[8], ARGV[5])
  forget_inbox(KEYS[6], KEYS[7], KEYS[8], ARGV[4])
  local writers = redis.call('SCARD', KEYS[2])
  redis.call('ZADD', KEYS[6], ARGV[2], ARGV[4])
  redis.call('HSET', KEYS[7], ARGV[4], writers)
  redis.call('INCRBY', KEYS[8], writers)
end
return 1`,
  },
  // KEYS: mb, m, w, u | ARGV: body, max messages, channel, id, write-cap hash
  // A handshake mailbox's post, as before inboxes: the same keys, arguments and calls. The
  // capability check is a set lookup of SHA-256(capability): a hash-table probe keyed by a digest
  // of the caller's own input reveals nothing about any stored capability. A claim's first post
  // moves its hash from the unused claims to the write set, if the limit allows. A capability
  // found nowhere asks, then only, whether the mailbox is an inbox: {0, 'inbox'} sends the post
  // on to plInboxAppend.
  plAppend: {
    numberOfKeys: 4,
    lua: `
local e = redis.call('HGET', KEYS[1], 'e')
if not e then return {0, 'not_found'} end
local promote = false
if redis.call('SISMEMBER', KEYS[3], ARGV[5]) == 0 then
  if not redis.call('LPOS', KEYS[4], ARGV[5]) then
    if redis.call('HEXISTS', KEYS[1], 'ib') == 1 then return {0, 'inbox'} end
    return {0, 'not_found'}
  end
  local cm = tonumber(redis.call('HGET', KEYS[1], 'cm') or '0')
  if redis.call('SCARD', KEYS[3]) >= cm then return {0, 'crowded'} end
  promote = true
end
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[2]) then return {0, 'full'} end
if promote then
  redis.call('LREM', KEYS[4], 1, ARGV[5])
  redis.call('SADD', KEYS[3], ARGV[5])
  redis.call('PEXPIREAT', KEYS[3], e)
end${storeMessage('ARGV[1]', 'ARGV[3]', 'ARGV[4]')}`,
  },
  // KEYS: mb, m, i, a, c | ARGV: body, channel, id, write-cap hash, max per inbox, max pending per writer
  // An inbox's post is refused 'full' when its writer has its share pending, or the inbox its total.
  plInboxAppend: {
    numberOfKeys: 5,
    lua: `
local fields = redis.call('HMGET', KEYS[1], 'e', 'ib')
local e = fields[1]
if not e or not fields[2] then return {0, 'not_found'} end
if redis.call('SISMEMBER', KEYS[3], ARGV[4]) == 0 then return {0, 'not_found'} end
if tonumber(redis.call('HGET', KEYS[5], ARGV[4]) or '0') >= tonumber(ARGV[6]) then return {0, 'full'} end
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[5]) then return {0, 'full'} end
redis.call('HINCRBY', KEYS[5], ARGV[4], 1)
redis.call('PEXPIREAT', KEYS[5], e)
redis.call('RPUSH', KEYS[4], ARGV[4])
redis.call('PEXPIREAT', KEYS[4], e)${storeMessage('ARGV[1]', 'ARGV[2]', 'ARGV[3]')}`,
  },
  // KEYS: mb, w, m, u, gone, a, c, inboxes, iw, iwn, i | ARGV: id, channel, prefix
  // The id stays in {p}all (scored by its expiry) as a tombstone, so it counts against the cap.
  plDelete: {
    numberOfKeys: 11,
    lua: `${INBOX_GAUGES}
local fields = redis.call('HMGET', KEYS[1], 'ip', 'np', 'e')
if not fields[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[11])
redis.call('SET', KEYS[5], '1', 'PXAT', fields[3])
if fields[2] then redis.call('DEL', ARGV[3] .. 'np:' .. fields[2]) end
redis.call('ZREM', ARGV[3] .. 'ip:' .. fields[1], ARGV[1])
forget_inbox(KEYS[8], KEYS[9], KEYS[10], ARGV[1])
redis.call('PUBLISH', ARGV[2], cjson.encode({type = 'closed', mailbox = ARGV[1]}))
return 1`,
  },
  // KEYS: np, mb | ARGV: mailbox id, maxClaims, expiresAt, name, prefix
  plNameplate: {
    numberOfKeys: 2,
    lua: `
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'mb', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
local old = redis.call('HGET', KEYS[2], 'np')
if old then redis.call('DEL', ARGV[5] .. 'np:' .. old) end
redis.call('HSET', KEYS[2], 'np', ARGV[4], 'cm', ARGV[2])
return 1`,
  },
  // KEYS: np | ARGV: prefix, write-cap hash, max unused claims
  plClaim: {
    numberOfKeys: 1,
    lua: `
local mb = redis.call('HGET', KEYS[1], 'mb')
if not mb then return {0, 'not_found'} end
local key = ARGV[1] .. 'mb:' .. mb
local fields = redis.call('HMGET', key, 'e', 'cm')
if not fields[1] then return {0, 'not_found'} end
if redis.call('SCARD', key .. ':w') >= tonumber(fields[2] or '0') then return {0, 'crowded'} end
redis.call('RPUSH', key .. ':u', ARGV[2])
redis.call('LTRIM', key .. ':u', -tonumber(ARGV[3]), -1)
redis.call('PEXPIREAT', key .. ':u', fields[1])
return {1, mb, fields[1]}`,
  },
  // KEYS: mb, i, m, a, c, inboxes | ARGV: expiresAt, id, prefix
  // Never shortens. Expiries stay strings: Lua would print a 13-digit number as 4.1e+12.
  plRenew: {
    numberOfKeys: 6,
    lua: `${EXPIRE_AT_LEAST}
local fields = redis.call('HMGET', KEYS[1], 'e', 'ib', 'ip')
if not fields[1] or not fields[2] then return 0 end
local e = fields[1]
if tonumber(ARGV[1]) > tonumber(e) then e = ARGV[1] end
redis.call('HSET', KEYS[1], 'e', e)
for i = 1, 5 do redis.call('PEXPIREAT', KEYS[i], e) end
redis.call('ZADD', KEYS[6], e, ARGV[2])
local ipz = ARGV[3] .. 'ip:' .. fields[3]
redis.call('ZADD', ipz, 'GT', e, ARGV[2])
expire_at_least(ipz, e)
redis.call('ZADD', ARGV[3] .. 'all', 'GT', e, ARGV[2])
return e`,
  },
  // KEYS: mb, i, iw, iwn | ARGV: write-cap hash, max writers, id
  plAddWriter: {
    numberOfKeys: 4,
    lua: `
local fields = redis.call('HMGET', KEYS[1], 'e', 'ib')
if not fields[1] or not fields[2] then return -1 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[2]) then return -2 end
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('PEXPIREAT', KEYS[2], fields[1])
  redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
  redis.call('INCR', KEYS[4])
end
return redis.call('SCARD', KEYS[2])`,
  },
  // KEYS: mb, i, iw, iwn | ARGV: write-cap hash, id
  plRevokeWriter: {
    numberOfKeys: 4,
    lua: `
if not redis.call('HGET', KEYS[1], 'ib') then return -1 end
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[3], ARGV[2], -1)
redis.call('DECR', KEYS[4])
return 1`,
  },
  // KEYS: mb, m, a, c | ARGV: through seq
  // At most maxMessagesPerInbox iterations: the inbox holds no more.
  plTrim: {
    numberOfKeys: 4,
    lua: `
if not redis.call('HGET', KEYS[1], 'ib') then return -1 end
local through = tonumber(ARGV[1])
local count = 0
while true do
  local head = redis.call('LINDEX', KEYS[2], 0)
  if not head then break end
  if tonumber(string.sub(head, 1, string.find(head, ':', 1, true) - 1)) > through then break end
  redis.call('LPOP', KEYS[2])
  local author = redis.call('LPOP', KEYS[3])
  if author and redis.call('HINCRBY', KEYS[4], author, -1) <= 0 then redis.call('HDEL', KEYS[4], author) end
  count = count + 1
end
return count`,
  },
  // KEYS: inboxes, iw, iwn | ARGV: now
  plInboxStats: {
    numberOfKeys: 3,
    lua: `${INBOX_GAUGES}
forget_expired_inboxes(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
return {redis.call('ZCARD', KEYS[1]), tonumber(redis.call('GET', KEYS[3]) or '0')}`,
  },
} as const;
