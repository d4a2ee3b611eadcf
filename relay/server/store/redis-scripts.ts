/*
 * Redis layout (prefix `pl:` by default; see docs/RELAY.md):
 *   {p}mb:{id}      hash  r=read-cap hash, e=expiry ms, ip=owner, n=last seq, np=nameplate,
 *                         cm=claims that may post (code mailboxes)
 *   {p}mb:{id}:w    set   write-cap hashes (a code mailbox's: the claims that have posted)
 *   {p}mb:{id}:u    list  unused claims' write-cap hashes (at most 32, the oldest dropped)
 *   {p}mb:{id}:m    list  "seq:base64url body"
 *   {p}gone:{id}    string  tombstone of a deleted mailbox, until it would have expired
 *   {p}np:{name}    hash  mb=mailbox id
 *   {p}ip:{ip}      zset  mailbox ids owned by the address, scored by expiry
 *   {p}all          zset  every mailbox id and tombstone, scored by expiry (gauge and global cap)
 *   channel {p}events   JSON MailboxEvent, so a post on one instance reaches sockets on all
 * Every key carries PEXPIREAT of its mailbox, so Redis itself forgets what expires, and state
 * survives a relay restart. Each operation is one Lua script: atomic, one round trip.
 */

const EXPIRE_AT_LEAST = `
local function expire_at_least(key, at)
  if redis.call('PTTL', key) == -1 then redis.call('PEXPIREAT', key, at) else redis.call('PEXPIREAT', key, at, 'GT') end
end
`;

export const SCRIPTS = {
  // KEYS: mb, w, ipz, all, gone | ARGV: readHash, expiresAt, ip, id, now, writeHash...
  plCreate: {
    numberOfKeys: 5,
    lua: `${EXPIRE_AT_LEAST}
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'e', ARGV[2], 'ip', ARGV[3], 'n', 0)
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
if #ARGV >= 6 then
  for i = 6, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
  redis.call('PEXPIREAT', KEYS[2], ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
expire_at_least(KEYS[3], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[4])
return 1`,
  },
  // KEYS: mb, m, w, u | ARGV: body, max, channel, id, write-cap hash
  // The capability check is a set lookup of SHA-256(capability): a hash-table probe keyed by a
  // digest of the caller's own input reveals nothing about any stored capability. A claim's
  // first post moves its hash from the unused claims to the write set, if the limit allows.
  plAppend: {
    numberOfKeys: 4,
    lua: `
local e = redis.call('HGET', KEYS[1], 'e')
if not e then return {0, 'not_found'} end
local promote = false
if redis.call('SISMEMBER', KEYS[3], ARGV[5]) == 0 then
  if not redis.call('LPOS', KEYS[4], ARGV[5]) then return {0, 'not_found'} end
  local cm = tonumber(redis.call('HGET', KEYS[1], 'cm') or '0')
  if redis.call('SCARD', KEYS[3]) >= cm then return {0, 'crowded'} end
  promote = true
end
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[2]) then return {0, 'full'} end
if promote then
  redis.call('LREM', KEYS[4], 1, ARGV[5])
  redis.call('SADD', KEYS[3], ARGV[5])
  redis.call('PEXPIREAT', KEYS[3], e)
end
local seq = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('RPUSH', KEYS[2], seq .. ':' .. ARGV[1])
redis.call('PEXPIREAT', KEYS[2], e)
redis.call('PUBLISH', ARGV[3], cjson.encode({type = 'message', mailbox = ARGV[4], message = {seq = seq, body = ARGV[1]}}))
return {1, seq}`,
  },
  // KEYS: mb, w, m, u, gone | ARGV: id, channel, prefix
  // The id stays in {p}all (scored by its expiry) as a tombstone, so it counts against the cap.
  plDelete: {
    numberOfKeys: 5,
    lua: `
local fields = redis.call('HMGET', KEYS[1], 'ip', 'np', 'e')
if not fields[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('SET', KEYS[5], '1', 'PXAT', fields[3])
if fields[2] then redis.call('DEL', ARGV[3] .. 'np:' .. fields[2]) end
redis.call('ZREM', ARGV[3] .. 'ip:' .. fields[1], ARGV[1])
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
} as const;
