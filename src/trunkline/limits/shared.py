"""Both limiters' state in Redis, so every worker and node enforces one budget.

Each update is one Lua script, atomic on the Redis server; the caller passes its
clock in (``now``), as the in-process backend takes it, so the arithmetic is the
same as ``bucket.py`` and ``operating.py`` and tests can move time.

Keys (``<prefix>`` is the ``redis_prefix`` setting):

* ``<prefix>rate:<portal>:<caller>``: a hash ``level``, ``at``; expires once drained.
* ``<prefix>op:<portal>:<caller>:<method>``: a hash with ``f<minute>`` (first call
  of that minute) and ``s<minute>`` (seconds counted); expires after the window.

A request's bucket and its operating usage are read in one round trip; only calls
slower than 0.1 s cost a second one (to record their time).

When Redis cannot be reached every call raises :class:`BackendUnavailable`; after a
failure the backend does not try again for ``retry_after`` seconds, so an outage
costs one connection timeout per second, not one per call.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from trunkline.limits.bucket import Rate
from trunkline.limits.operating import MINUTE, THRESHOLD, WINDOW, Usage

_WINDOW_LUA = """
local function window(key, now, span)
  local fields = redis.call('HGETALL', key)
  local firsts, sums = {}, {}
  for i = 1, #fields, 2 do
    local name, value = fields[i], tonumber(fields[i + 1])
    local kind, minute = string.sub(name, 1, 1), string.sub(name, 2)
    if kind == 'f' then firsts[minute] = value else sums[minute] = value end
  end
  local total, oldest = 0, -1
  for minute, first in pairs(firsts) do
    if first + span <= now then
      redis.call('HDEL', key, 'f' .. minute, 's' .. minute)
    else
      total = total + (sums[minute] or 0)
      if oldest < 0 or first < oldest then oldest = first end
    end
  end
  return total, oldest
end
"""

# KEYS: rate bucket, operating window. ARGV: now, use_rate, capacity, per_second, use_op, span.
ADMIT = (
    _WINDOW_LUA
    + """
local now = tonumber(ARGV[1])
if ARGV[2] == '1' then
  local capacity, per_second = tonumber(ARGV[3]), tonumber(ARGV[4])
  local state = redis.call('HMGET', KEYS[1], 'level', 'at')
  local level, at = tonumber(state[1]) or 0, tonumber(state[2]) or now
  local elapsed = now - at
  if elapsed < 0 then elapsed = 0 end
  level = level - elapsed * per_second
  if level < 0 then level = 0 end
  if at < now then at = now end
  if level + 1 > capacity then
    redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(at))
    return {0, '0', '-1'}
  end
  redis.call('HSET', KEYS[1], 'level', tostring(level + 1), 'at', tostring(at))
  redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / per_second * 1000) + 1000)
end
if ARGV[5] == '1' then
  local total, oldest = window(KEYS[2], now, tonumber(ARGV[6]))
  return {1, tostring(total), tostring(oldest)}
end
return {1, '0', '-1'}
"""
)

# KEYS: operating window. ARGV: now, seconds, span, minute length.
RECORD = (
    _WINDOW_LUA
    + """
local now, seconds, span = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local minute = tostring(math.floor(now / tonumber(ARGV[4])))
local first = tonumber(redis.call('HGET', KEYS[1], 'f' .. minute))
if first == nil or first + span <= now then
  redis.call('HSET', KEYS[1], 'f' .. minute, tostring(now), 's' .. minute, tostring(seconds))
else
  redis.call('HINCRBYFLOAT', KEYS[1], 's' .. minute, tostring(seconds))
end
redis.call('EXPIRE', KEYS[1], span + 60)
local total, oldest = window(KEYS[1], now, span)
return {1, tostring(total), tostring(oldest)}
"""
)


class BackendUnavailable(Exception):
    """Redis did not answer (the guard decides: serve without limits, or refuse)."""


def _usage(reply: Any) -> Usage:
    total, oldest = float(reply[1]), float(reply[2])
    return Usage(total, None if oldest < 0 else int(oldest + WINDOW))


class RedisBackend:
    name = "Redis"
    shared = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "trunkline:",
        retry_after: float = 1.0,
        timeout: float = 0.5,
    ) -> None:
        self.prefix = prefix
        self.retry_after = retry_after
        self.client = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        self._admit = self.client.register_script(ADMIT)
        self._record = self.client.register_script(RECORD)
        self._down_until = 0.0
        self._pending: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._admit_sha: str | None = None

    def key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        if self._down_until and time.monotonic() < self._down_until:
            raise BackendUnavailable("Redis was unreachable moments ago")
        try:
            reply = await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + self.retry_after
            raise BackendUnavailable(str(exc) or type(exc).__name__) from exc
        self._down_until = 0.0
        return reply

    async def admit(
        self, rate_key: str | None, rate: Rate | None, op_key: str | None, now: float
    ) -> tuple[bool, Usage | None]:
        use_rate = rate_key is not None and rate is not None
        keys = [
            self.key("rate", rate_key or "-"),
            self.key("op", op_key or "-"),
        ]
        args = [
            repr(now),
            "1" if use_rate else "0",
            rate.capacity if rate else 0,
            repr(rate.per_second) if rate else "0",
            "1" if op_key is not None else "0",
            WINDOW,
        ]
        reply = await self._batched(keys, args)
        if not int(reply[0]):
            return False, None
        return True, _usage(reply) if op_key is not None else None

    async def _batched(self, keys: list[str], args: list[Any]) -> Any:
        """Run ADMIT, coalescing every call made in the same loop turn into one pipeline."""
        if self._down_until and time.monotonic() < self._down_until:
            raise BackendUnavailable("Redis was unreachable moments ago")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((keys, args, future))
        if len(self._pending) == 1:
            loop.call_soon(lambda: asyncio.ensure_future(self._flush()))
        return await future

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        try:
            if self._admit_sha is None:
                self._admit_sha = await self.client.script_load(ADMIT)
            pipe = self.client.pipeline(transaction=False)
            for keys, args, _ in pending:
                pipe.evalsha(self._admit_sha, len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + self.retry_after
            self._admit_sha = None
            for _, _, future in pending:
                if not future.done():
                    future.set_exception(BackendUnavailable(str(exc) or type(exc).__name__))
            return
        self._down_until = 0.0
        for (keys, args, future), reply in zip(pending, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):  # e.g. NOSCRIPT after a Redis restart
                self._admit_sha = None
                try:
                    future.set_result(await self._run(self._admit, keys, args))
                except BackendUnavailable as exc:
                    future.set_exception(exc)
            else:
                future.set_result(reply)

    async def record(self, op_key: str, now: float, seconds: float) -> Usage:
        if seconds <= THRESHOLD:  # nothing to add; read the window as it is
            return (await self.admit(None, None, op_key, now))[1] or Usage(0.0, None)
        reply = await self._run(
            self._record, [self.key("op", op_key)], [repr(now), repr(seconds), WINDOW, MINUTE]
        )
        return _usage(reply)

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        await self.client.aclose()
