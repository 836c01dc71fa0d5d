"""Both limiters' state in Redis, so every worker and node enforces one budget.

Each update is one Lua script, atomic on the Redis server; the caller passes its
clock in (``now``), as the in-process backend takes it, so tests can move time.
A worker does not come here for every call: it leases the request-rate bucket's
tokens in blocks and caches operating usages (``lease.py`` has the rules and the
bounds; ``lease.SharedModel`` is the same bucket arithmetic in Python).

Keys (``<prefix>`` is the ``redis_prefix`` setting):

* ``<prefix>rate:<portal>:<caller>``: a hash ``level``, ``at``, ``held`` and, per
  worker holding a lease, ``n:<worker>`` (units) and ``e:<worker>`` (its expiry);
  expires once drained and every lease is past its grace.
* ``<prefix>op:<portal>:<caller>:<method>``: a hash with ``f<minute>`` (first call
  of that minute) and ``s<minute>`` (seconds counted); expires after the window.

A trip settles and renews a lease and reads a usage in one script (``LEASE``);
trips go out on a connection of the store's own, those queued while a batch is on
the wire together in the next one (redis-py's pipeline and pool cost more CPU
than the script). Only calls slower
than 0.1 s cost a trip of their own (``RECORD``, to add their time).

When Redis cannot be reached every call raises :class:`BackendUnavailableError`; after a
failure the store does not try again for ``retry_after`` seconds, so an outage
costs one connection timeout per second, not one per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable, Hashable
from typing import Any

from trunkline.domain.clock import Clock
from trunkline.limits.lease import (
    GRACE,
    LEASE_TTL,
    LeaseReply,
    LeaseRequest,
    LeasingBackend,
)
from trunkline.limits.operating import EMPTY, MINUTE, WINDOW, Usage

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

# KEYS: rate bucket, operating window.
# ARGV: now, worker, use_rate, capacity, per_second, used, want, use_op.
# Returns 'granted seconds oldest' (oldest: the first call of the oldest live bucket,
# or -1), one string: cheaper to read than an array. @TTL@ and @GRACE@ are
# filled in by RedisStore (fewer arguments to send on every trip).
LEASE = (
    _WINDOW_LUA
    + """
local now = tonumber(ARGV[1])
local granted = 0
if ARGV[3] == '1' then
  local key, me = KEYS[1], ARGV[2]
  local capacity, per_second = tonumber(ARGV[4]), tonumber(ARGV[5])
  local ttl, grace = @TTL@, @GRACE@
  local fields = redis.call('HGETALL', key)
  local level, at, held, units, expiry = 0, now, 0, {}, {}
  for i = 1, #fields, 2 do
    local name, value = fields[i], fields[i + 1]
    if name == 'level' then level = tonumber(value)
    elseif name == 'at' then at = tonumber(value)
    elseif name == 'held' then held = tonumber(value)
    elseif string.sub(name, 1, 2) == 'n:' then units[string.sub(name, 3)] = tonumber(value)
    elseif string.sub(name, 1, 2) == 'e:' then expiry[string.sub(name, 3)] = tonumber(value)
    end
  end
  local elapsed = now - at
  if elapsed < 0 then elapsed = 0 end
  level = level - elapsed * per_second
  if level < 0 then level = 0 end
  if at < now then at = now end
  local others = 0
  for who, count in pairs(units) do
    local settle = -1
    local expires = expiry[who] or 0
    if who == me then
      settle = tonumber(ARGV[6])
      if settle > count then settle = count end
      if settle < 0 then settle = 0 end
    elseif expires + grace <= now then
      settle = count
    elseif expires > now then
      others = others + 1
    end
    if settle >= 0 then
      held = held - count
      level = level + settle
      redis.call('HDEL', key, 'n:' .. who, 'e:' .. who)
    end
  end
  if held < 0 then held = 0 end
  local room, want = capacity - level - held, tonumber(ARGV[7])
  if want > 0 and room >= 1 then
    granted = math.floor(room / (2 * (others + 1)))
    if granted < 1 then granted = 1 end
    if granted > want then granted = want end
    held = held + granted
    redis.call('HSET', key, 'n:' .. me, granted, 'e:' .. me, tostring(now + ttl))
  end
  redis.call('HSET', key, 'level', tostring(level), 'at', tostring(at), 'held', held)
  redis.call('PEXPIRE', key, math.ceil((capacity / per_second + ttl + grace) * 1000) + 1000)
end
if ARGV[8] == '1' then
  local total, oldest = window(KEYS[2], now, @SPAN@)
  return granted .. ' ' .. tostring(total) .. ' ' .. tostring(oldest)
end
return granted .. ' 0 -1'
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


class BackendUnavailableError(Exception):
    """Redis did not answer (the guard decides: serve without limits, or refuse).

    Never reaches the wire as itself: the guard logs it and serves the call, or, when
    failing closed, answers ``QUERY_LIMIT_EXCEEDED``.
    """


def _usage(reply: Any) -> Usage:
    total, oldest = float(reply[1]), float(reply[2])
    if oldest < 0:
        return EMPTY  # nothing counted (the guard reuses one ticket for it)
    return Usage(total, int(oldest + WINDOW))


def _evalsha(sha: bytes, keys: list[str], args: list[Any]) -> bytes:
    """``EVALSHA sha <n> keys... args...`` in RESP, packed in one join (redis-py's
    general packer costs more than the rest of a trip)."""
    parts = [b"EVALSHA", sha, b"%d" % len(keys)]
    parts.extend(str(part).encode() for part in (*keys, *args))
    out = [b"*%d\r\n" % len(parts)]
    out.extend(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)
    return b"".join(out)


def _joined(name: Hashable) -> str:
    if isinstance(name, tuple):
        return ":".join(_joined(part) for part in name)
    return str(name)


class RedisStore:
    """The shared side of :class:`~trunkline.limits.lease.LeasingBackend` in Redis."""

    name = "Redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "trunkline:",
        retry_after: float = 1.0,
        timeout: float = 0.5,
        ttl: float = LEASE_TTL,
        grace: float = GRACE,
    ) -> None:
        self.prefix = prefix
        self.retry_after = retry_after
        self.ttl = ttl
        self.grace = grace
        # redis-py loads here, not at import: a server without redis_url never pays for it
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError, ResponseError

        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError)
        self._response_error: type[BaseException] = ResponseError
        self.client = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        self.script = (
            LEASE.replace("@TTL@", repr(float(ttl)))
            .replace("@GRACE@", repr(float(grace)))
            .replace("@SPAN@", str(WINDOW))
        )
        self._lease = self.client.register_script(self.script)
        self._record = self.client.register_script(RECORD)
        self._down_until = 0.0
        self._pending: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._flushing = False
        self._flusher: asyncio.Future[None] | None = None
        self._conn: Any = None  # a connection of this store's own for LEASE trips
        self._lease_sha: str | None = None

    def key(self, kind: str, name: Hashable) -> str:
        """``<prefix><kind>:<portal>:<auth type>:<app or webhook>[:<method>]`` from a
        caller tuple or a (caller, method) pair."""
        return f"{self.prefix}{kind}:{_joined(name)}"

    def _check_up(self) -> None:
        if self._down_until and Clock.monotonic() < self._down_until:
            raise BackendUnavailableError("Redis was unreachable moments ago")

    def _failed(self, exc: BaseException) -> BackendUnavailableError:
        self._down_until = Clock.monotonic() + self.retry_after
        return BackendUnavailableError(str(exc) or type(exc).__name__)

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        self._check_up()
        try:
            reply = await script(keys=keys, args=args)
        except self._errors as exc:
            raise self._failed(exc) from exc
        self._down_until = 0.0
        return reply

    async def lease(self, request: LeaseRequest, worker: str) -> LeaseReply:
        rate, op_key = request.rate, request.op_key
        use_rate = request.rate_key is not None and rate is not None
        keys = [self.key("rate", request.rate_key or "-"), self.key("op", op_key or "-")]
        args = [
            repr(request.now),
            worker,
            "1" if use_rate else "0",
            rate.capacity if rate else 0,
            repr(rate.per_second) if rate else "0",
            request.used,
            request.want,
            "1" if op_key is not None else "0",
        ]
        reply = await self._batched(keys, args)
        granted, total, oldest = reply.split()
        if op_key is None:
            return LeaseReply(int(granted))
        return LeaseReply(int(granted), _usage((granted, total, oldest)))

    async def _batched(self, keys: list[str], args: list[Any]) -> Any:
        """Run LEASE; trips queued while a batch is on the wire go out together next."""
        self._check_up()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((keys, args, future))
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._start_flush)
        return await future

    def _start_flush(self) -> None:
        self._flusher = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                pending, self._pending = self._pending, []
                await self._send(pending)
        finally:
            self._flushing = False
            for _, _, future in self._pending:  # only when cancelled (shutdown)
                if not future.done():
                    future.set_exception(BackendUnavailableError("the limits store is closing"))
            self._pending = []

    async def _send(self, pending: list[tuple[list[str], list[Any], asyncio.Future[Any]]]) -> None:
        """One batch on this store's own connection: no pool, no pipeline object."""
        replies: list[Any] = []
        try:
            if self._conn is None:
                conn = self.client.connection_pool.make_connection()  # type: ignore[no-untyped-call]
                await conn.connect()
                self._conn = conn
            if self._lease_sha is None:
                self._lease_sha = await self.client.script_load(self.script)
            sha = self._lease_sha.encode()
            packed = b"".join(_evalsha(sha, keys, args) for keys, args, _ in pending)
            await self._conn.send_packed_command(packed, check_health=False)
            conn = self._conn
            for _ in pending:
                try:
                    replies.append(await conn.read_response())
                except self._response_error as exc:  # e.g. NOSCRIPT after a Redis restart
                    replies.append(exc)
        except BaseException as exc:
            await self._drop_connection()
            self._lease_sha = None
            error = (
                self._failed(exc)
                if isinstance(exc, self._errors)
                else BackendUnavailableError("interrupted")
            )
            for _, _, future in pending:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(exc, self._errors):
                raise
            return
        self._down_until = 0.0
        for (keys, args, future), reply in zip(pending, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                self._lease_sha = None
                try:
                    future.set_result(await self._run(self._lease, keys, args))
                except BackendUnavailableError as exc:
                    future.set_exception(exc)
            else:
                future.set_result(reply)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect()

    async def record(self, op_key: Hashable, now: float, seconds: float) -> Usage:
        reply = await self._run(
            self._record, [self.key("op", op_key)], [repr(now), repr(seconds), WINDOW, MINUTE]
        )
        return _usage(reply)

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except self._errors as exc:
            raise BackendUnavailableError(str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        await self._drop_connection()
        await self.client.aclose()


def redis_backend(url: str, *, prefix: str, clock: Callable[[], float]) -> LeasingBackend:
    """The limiters of one worker on Redis (a worker id of its own, for its leases)."""
    return LeasingBackend(RedisStore(url, prefix=prefix), secrets.token_hex(6), clock)
