"""The request journal: every REST call and every ``batch`` command, kept in the database.

Rules:

* A call is handed over as the ten values of its row, the parameters not yet masked nor
  encoded (:meth:`JournalWriter.add`: one ``list.extend`` of atomic values); masking, JSON
  encoding and the database write happen in batches off the call's path, every
  ``journal_flush_ms`` and whenever a reader asks (:meth:`JournalWriter.flush`), so this
  worker's calls are always visible to its own readers. Nothing the garbage collector
  tracks is kept per call (no record object, no tuple): held for a whole flush interval,
  such objects outlived the youngest generation and made the collector run, and promote
  them, on every call's allocations (8 µs a call, more than the journal's own work).
* Secrets are masked before anything is written: every value under a key naming a
  password, secret, token, auth or code, at any depth, and the same names inside a
  ``batch`` command's query string, become ``"***"``. Parameters with nothing to mask are
  encoded as they are (no copy); only the objects holding a secret are copied.
* The journal keeps the newest ``journal_size`` rows; older ones are dropped at each write.
* The writer counts what its flushes cost: rows written and the CPU time of the event
  loop's thread while they ran (on SQLite, whose statements never wait, the flushes' own
  CPU; on PostgreSQL it includes whatever ran while they waited), logged when it stops.
* A matcher counts rows (WireMock's ``verify``): ``method``, ``portal``, ``status``,
  ``error``, ``principal``, ``batch`` and ``since`` select rows in SQL; ``params`` is a
  subset every counted row's (masked) parameters must contain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from trunkline.domain.clock import Clock
from trunkline.storage.journal import JournalFilter, JournalRepository, JournalRow

log = logging.getLogger("trunkline.journal")

MASK = "***"
_SECRET_KEY = re.compile(r"pass|secret|token|auth|^code$|^ap$", re.IGNORECASE)
_SECRET_IN_QUERY = re.compile(
    r"((?:^|[?&])[^=&]*(?:pass|secret|token|auth)[^=&]*=)[^&]*", re.IGNORECASE
)
MATCHER_FIELDS = ("method", "portal", "status", "error", "principal", "batch", "since", "params")

# A call as handed over, its row's values (storage/journal.py COLUMNS) with the parameters
# as parsed: at, portal, principal, user_id, method, params, http_status, error_code,
# duration_ms, batch. JournalWriter.pending holds them flat, FIELDS values a call.
Pending = tuple[
    float, str | None, str | None, int | None, str, Mapping[str, Any], int, str | None, float, bool
]
FIELDS = 10
_PARAMS = 5  # where the parameters are among a call's values


class JournalError(ValueError):
    """A filter or matcher that cannot be used: a message to show."""


@lru_cache(maxsize=4096)
def _secret(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def masked(value: Any, key: str = "") -> Any:
    """``value`` with every secret replaced by ``***`` (a copy of the parts that changed;
    ``value`` itself when nothing did, and it is already plain JSON data)."""
    if key and _secret(key):
        return MASK
    kind = type(value)
    if kind is str:
        return _SECRET_IN_QUERY.sub(_mask_match, value) if "=" in value else value
    if kind is dict:
        return _masked_dict(value)
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if isinstance(value, str):
        return masked(str(value), key)
    if isinstance(value, Mapping):
        return {str(k): masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return _masked_list(value)
    if isinstance(value, bool | int | float):
        return value
    return str(value)


def _mask_match(match: re.Match[str]) -> str:
    return match.group(1) + MASK


def _masked_dict(value: dict[Any, Any]) -> dict[str, Any]:
    copy: dict[str, Any] | None = None
    for k, v in value.items():
        if type(k) is not str:
            return {str(k): masked(v, str(k)) for k, v in value.items()}
        new = masked(v, k)
        if new is not v:
            if copy is None:
                copy = dict(value)
            copy[k] = new
    return value if copy is None else copy


def _masked_list(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    copy: list[Any] | None = None if type(value) is list else list(value)
    for i, v in enumerate(value):
        new = masked(v)
        if new is not v:
            if copy is None:
                copy = list(value)
            copy[i] = new
    return value if copy is None else copy  # type: ignore[return-value]


def contains(whole: Any, part: Any) -> bool:
    """Whether ``part`` is a subset of ``whole`` (objects by key, arrays by position,
    other values equal; numbers and their strings match, as PHP parameters are strings)."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(
            k in whole and contains(whole[k], v) for k, v in part.items()
        )
    if isinstance(part, list):
        return (
            isinstance(whole, list)
            and len(whole) >= len(part)
            and all(contains(w, p) for w, p in zip(whole, part, strict=False))
        )
    if isinstance(part, bool) or isinstance(whole, bool):
        return bool(whole == part)
    if isinstance(part, int | float) and isinstance(whole, str):
        return whole == str(part)
    return bool(whole == part)


def describe(row: JournalRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "time": datetime.fromtimestamp(row.at, UTC).isoformat(timespec="milliseconds"),
        "portal": row.portal,
        "principal": row.principal,
        "user": row.user_id,
        "method": row.method,
        "params": json.loads(row.params),
        "status": row.http_status,
        "error": row.error_code,
        "ms": round(row.duration_ms, 3),
        "batch": row.batch,
    }


def since_value(text: Any) -> float:
    """``since`` as seconds: a number, or an ISO 8601 moment (UTC unless it says)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    if isinstance(text, str):
        try:
            return float(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    raise JournalError(f"since must be seconds since the epoch or an ISO 8601 time, got {text!r}")


def journal_filter(query: Mapping[str, Any]) -> JournalFilter:
    """A filter from a matcher or query parameters (JournalError naming the bad one)."""
    status = query.get("status")
    if status is not None:
        try:
            status = int(status)
        except (TypeError, ValueError):
            raise JournalError(f"status must be an HTTP status, got {status!r}") from None
    batch = query.get("batch")
    if isinstance(batch, str):
        batch = {"true": True, "1": True, "false": False, "0": False}.get(batch.lower(), batch)
    if batch is not None and not isinstance(batch, bool):
        raise JournalError(f"batch must be true or false, got {batch!r}")
    texts = {}
    for name in ("method", "portal", "error", "principal"):
        value = query.get(name)
        if value is not None and not isinstance(value, str):
            raise JournalError(f"{name} must be a string, got {value!r}")
        texts[name] = value
    after = query.get("after", 0)
    try:
        after = int(after)
    except (TypeError, ValueError):
        raise JournalError(f"after must be a row id, got {after!r}") from None
    return JournalFilter(
        portal=texts["portal"].lower() if texts["portal"] else None,
        method=texts["method"].lower() if texts["method"] else None,
        http_status=status,
        error_code=texts["error"],
        principal=texts["principal"],
        batch=batch,
        since=None if query.get("since") is None else since_value(query["since"]),
        after=after,
    )


def encoded(params: Mapping[str, Any]) -> str:
    """The parameters, secrets masked, as compact JSON (orjson; json for what it refuses,
    such as integers past 64 bits).

    Most calls hold no secret: their JSON is made first and kept as it is when no secret
    can be in it (:func:`_may_hold_secret`); otherwise the parameters are masked and
    encoded again."""
    if not params:
        return "{}"
    if type(params) is dict:
        try:
            text = orjson.dumps(params).decode()
        except TypeError:
            pass
        else:
            if not _may_hold_secret(text):
                return text
    clean = masked(params)
    try:
        return orjson.dumps(clean).decode()
    except TypeError:
        return json.dumps(clean, separators=(",", ":"), ensure_ascii=False)


def _may_hold_secret(text: str) -> bool:
    """Whether JSON ``text`` may hold something :func:`masked` masks: a superset of
    ``_SECRET_KEY`` and ``_SECRET_IN_QUERY``. On ASCII text (orjson escapes nothing else
    into ASCII) ``lower()`` folds case as the regular expressions' IGNORECASE does; other
    text is taken to hold a secret (Unicode folding: ``ſ`` matches ``s``)."""
    if not text.isascii():
        return True
    low = text.lower()
    return (
        "pass" in low
        or "secret" in low
        or "token" in low
        or "auth" in low
        or '"code"' in low
        or '"ap"' in low
    )


class JournalWriter:
    """This worker's journal: calls buffered as their values, written in batches."""

    def __init__(self, repo: JournalRepository, clock: Clock, *, size: int, flush_ms: int) -> None:
        self.repo = repo
        self.clock = clock
        self.size = size
        self.flush_ms = flush_ms
        # FIELDS values a call, flat (Pending). One list for good: observers hold its extend.
        self.pending: list[Any] = []
        self.rows_written = 0
        self.flushes = 0
        self.flush_cpu = 0.0  # seconds of the loop thread's CPU in flushes (rules above)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add(self, call: Pending) -> None:
        self.pending.extend(call)

    async def flush(self) -> None:
        """Write what is pending (the parameters masked and encoded here, in one batch)."""
        async with self._lock:
            if not self.pending:
                return
            began = self.clock.thread_cpu()
            values = self.pending[:]
            self.pending.clear()
            for i in range(_PARAMS, len(values), FIELDS):
                values[i] = encoded(values[i])
            await self.repo.write_values(values, self.size)
            self.flush_cpu += self.clock.thread_cpu() - began
            self.rows_written += len(values) // FIELDS
            self.flushes += 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="trunkline journal")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_ms / 1000)
            try:
                await self.flush()
            except Exception:  # the database is away: these rows are lost, the next may not
                log.warning("could not write the request journal", exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()
        if self.rows_written:
            log.info(
                "request journal: %d rows written in %d flushes, %.1f ms of CPU (%.2f us a row)",
                self.rows_written,
                self.flushes,
                self.flush_cpu * 1e3,
                self.flush_cpu / self.rows_written * 1e6,
            )


class JournalService:
    """Reading the journal (the operator API and ``trunkline requests``)."""

    def __init__(self, repo: JournalRepository, writer: JournalWriter | None = None) -> None:
        self.repo = repo
        self.writer = writer

    async def rows(self, where: JournalFilter, limit: int = 1000) -> list[dict[str, Any]]:
        if self.writer is not None:
            await self.writer.flush()
        return [describe(row) for row in await self.repo.read(where, limit)]

    async def count(self, matcher: Mapping[str, Any]) -> int:
        unknown = sorted(set(matcher) - set(MATCHER_FIELDS))
        if unknown:
            raise JournalError(
                f"unknown matcher field {unknown[0]} (known: {', '.join(MATCHER_FIELDS)})"
            )
        where = journal_filter(matcher)
        if self.writer is not None:
            await self.writer.flush()
        wanted = matcher.get("params")
        if wanted is None:
            return await self.repo.count(where)
        if not isinstance(wanted, dict):
            raise JournalError("params must be an object: a subset of the call's parameters")
        counted = 0
        while True:
            page = await self.repo.read(where, 1000)
            counted += sum(1 for row in page if contains(json.loads(row.params), wanted))
            if len(page) < 1000:
                return counted
            where = replace(where, after=page[-1].id)

    async def clear(self) -> int:
        if self.writer is not None:
            self.writer.pending.clear()
        return await self.repo.clear()
