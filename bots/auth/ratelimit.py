"""A per-key request limit shared by every daert process through Redis.

A sliding window: at most `per_minute` requests in any 60 s, exactly (no double burst at a
window's edge, as a fixed window allows). Each bucket is a sorted set of the times of the
requests it let through in the last minute; one Lua script prunes, counts and records
atomically, on Redis's own clock, so processes on machines with different clocks agree. A
refused request is not recorded: a client that keeps hammering does not lock itself out longer.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

WINDOW_MS = 60_000
PREFIX = "daert:ratelimit:"

# KEYS[1]: the bucket; ARGV: window (ms), limit, a member unique to this request.
# Returns -1 when the request is let through, else the milliseconds until one is.
_SLIDING_WINDOW = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], now_ms, now_ms .. ':' .. ARGV[3])
    redis.call('PEXPIRE', KEYS[1], window)
    return -1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + window - now_ms
"""


class RateLimiter:
    """`await limiter.hit(bucket)`: None when the request may go on, else the seconds to wait
    (what `Retry-After` says). `per_minute` <= 0 lets everything through."""

    def __init__(self, redis: Redis, per_minute: int) -> None:
        self.redis = redis
        self.per_minute = per_minute
        self._script = redis.register_script(_SLIDING_WINDOW)

    async def hit(self, bucket: str) -> float | None:
        if self.per_minute <= 0:
            return None
        wait_ms = await self._script(
            keys=[PREFIX + bucket], args=[WINDOW_MS, self.per_minute, secrets.token_hex(8)]
        )
        wait = int(wait_ms)
        return None if wait < 0 else max(wait, 1) / 1000
