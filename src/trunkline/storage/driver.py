"""The two database drivers behind one small protocol.

SQLite runs through the standard library's ``sqlite3`` synchronously on the
event loop (WAL, one connection per process): measured faster than a thread pool
or aiosqlite for these short statements. PostgreSQL runs through an asyncpg pool
(``postgres.py``, imported only when a PostgreSQL database is opened, so a SQLite server
never loads asyncpg). Both take SQL with ``?`` placeholders.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from trunkline.errors import CoreError
from trunkline.storage.changes import _LINE_DATA, _READS
from trunkline.storage.sql import Dialect
from trunkline.storage.url import DatabaseUrl
from trunkline.storage.walindex import DataVersion, WalIndex

Row = Sequence[Any]

# sqlite3 binds an exact int, float or str directly; any other value (None, a bool) first goes
# through its adaptation protocol: a miss in its adapter table, then two failing attribute
# lookups (``__adapt__``, ``__conform__``) that each format an AttributeError, about 0.3 µs a
# value. A register + finish pair binds some 35 of them. Adapters found in the table skip
# that and bind the same thing: None stays NULL ({}.get(None) is None), a bool its 0 or 1.
_null = cast(Callable[[None], None], {}.get)  # a C call, no Python frame
sqlite3.register_adapter(type(None), _null)
sqlite3.register_adapter(bool, int)


class IntegrityViolationError(Exception):
    """A unique or foreign-key constraint refused a write (driver error translated).

    Never reaches the wire: the repositories translate it where it occurs, into
    :class:`DuplicateError` or a domain error (``TitleExistsError``).
    """


class DuplicateError(Exception):
    """A portal domain, member id, user login, webhook code, app or TITLE is already taken."""


class DatabaseUnavailableError(CoreError):
    """The database could not be reached or failed (driver error translated).

    On the wire this is the core's ``ERROR_CORE`` "SQL query error!" (HTTP 500);
    the driver's own text goes to the log only.
    """

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail

    def __str__(self) -> str:
        return f"database error: {self.detail}"


class DatabaseOpenError(Exception):
    """The database of the settings cannot be opened or migrated (driver, network and
    file errors translated): ``cannot open database <url> (<reason>)``, one line."""

    def __init__(self, url: DatabaseUrl, reason: str) -> None:
        super().__init__(f"cannot open database {url.redacted()} ({reason})")
        self.reason = reason


def open_failure(url: DatabaseUrl, exc: BaseException) -> DatabaseOpenError | None:
    """``exc`` (raised while opening or migrating) as a :class:`DatabaseOpenError`, or None
    when nothing in its chain is a database, network or file error."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        reason = _reason(current)
        if reason is not None:
            return DatabaseOpenError(url, reason)
        orig = getattr(current, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's
        todo += [orig if isinstance(orig, BaseException) else None]
        todo += [current.__cause__, current.__context__]
    return None


def _reason(exc: BaseException) -> str | None:
    asyncpg = sys.modules.get("asyncpg")  # not imported: no error of its to translate
    postgres = () if asyncpg is None else (asyncpg.PostgresError, asyncpg.InterfaceError)
    if isinstance(exc, (sqlite3.Error, *postgres)):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, socket.gaierror):
        return f"host not found: {exc.strerror}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{(exc.strerror or str(exc)).lower()}{where}"
    return None


class Connection(Protocol):
    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...

    async def fetch_one(self, sql: str, params: Sequence[object] = ()) -> Row | None: ...

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int: ...

    async def append(self, insert: str, row: Sequence[object]) -> None:
        """Add ``row`` to the table of ``insert`` (``INSERT INTO t (a, b) VALUES ``, or with
        one row's group of placeholders and constants after it: :func:`values_sql`) in the
        open transaction: at once, or (SQLite) with the other rows of the same group commit
        in one multi-row statement just before its COMMIT. Rows nobody reads inside the
        transaction only (journal lines)."""
        ...


def values_sql(insert: str, width: int, rows: int) -> str:
    """``insert`` with ``rows`` groups of ``width`` placeholders; an ``insert`` that ends
    with a group of its own (``... VALUES (?, 'refused', NULL, ?)``: constants written in
    the SQL are not bound) has that group repeated."""
    if insert.endswith(")"):
        head, values, group = insert.rpartition(" VALUES ")
        return head + values + ", ".join(group for _ in range(rows))
    group = f"({', '.join('?' for _ in range(width))})"
    return insert + ", ".join(group for _ in range(rows))


class Driver(Connection, Protocol):
    dialect: Dialect
    rollbacks: int  # SQLite: rolled-back writes (their row ids come back); PostgreSQL: 0

    def transaction(self) -> Any: ...

    def change_mark(self) -> object | None: ...

    def data_mark(self) -> object | None: ...

    async def shared_change_mark(self) -> object: ...

    async def shared_data_mark(self, group: str) -> object: ...

    async def close(self) -> None: ...


class SqliteDriver:
    dialect: Dialect = "sqlite"

    def __init__(self, url: DatabaseUrl) -> None:
        url.ensure_parent()
        self._db = sqlite3.connect(url.sqlite_path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        # Reads map the database file (up to 2 GiB, the usual build's ceiling) instead of
        # copying its pages into a private page cache, which then keeps only the pages
        # written or read from the WAL: 8 MiB of it (the default is 2 MiB). SQLite walks its
        # whole page cache at a COMMIT after a B-tree rebalance put its new pages in order
        # while the file is under 1 GiB (the swap goes through the 1 GiB "pending byte" page
        # number, and the COMMIT then drops every cached page numbered past the end of the
        # file): a 64 MiB cache that reads had filled made commits cost more at 1M rows
        # (docs/architecture.md, bench/telephony/README.md).
        self._db.execute("PRAGMA mmap_size=2147418112")
        self._db.execute("PRAGMA cache_size=-8192")
        # Checkpoints (copying the WAL into the database, with fsync) run in a thread
        # of their own rather than inside a commit on the event loop.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        # Every statement runs on this one cursor rather than a new one each
        # (Connection.execute makes and registers a cursor: about 1,300 instructions a
        # statement, bench/telephony/callgrind_cursor.sh). Executing a statement resets the
        # cursor's previous one, so a statement that fetch_one left unfinished (a SELECT of
        # several rows) lasts only until the next statement; and as data_version is read
        # here too, no such statement can keep a read snapshot that hides another
        # connection's commit from the marks.
        self._cursor = self._db.cursor()
        self._checkpointer = (
            _Checkpointer(url.sqlite_path) if url.sqlite_path != ":memory:" else None
        )
        # Unicode-aware lower(), as PostgreSQL's, so both backends fold case alike.
        self._db.create_function("lower", 1, _lower, deterministic=True)
        self._lock = asyncio.Lock()
        self._batch: asyncio.Future[None] | None = None  # the open group commit
        # What its writers await, one future each (cancelling one cancels only its writer).
        self._waiters: list[asyncio.Future[None]] = []
        self._held_version: int | None = None  # data_version read in the open group commit
        # Rows appended (append) by the open writer, and by the writers of the open group
        # commit that were released: written together just before its COMMIT.
        self._writer_rows: list[tuple[str, Sequence[object]]] | None = None
        self._batch_rows: list[tuple[str, Sequence[object]]] = []
        self._writes = 0  # this connection's statements that may change non-line data
        self._all_writes = 0  # this connection's statements that may change anything
        # Writes rolled back on this connection. A rolled-back insert gives its row id back
        # (sqlite_sequence is rolled back with it), so caches keyed by row id must forget.
        self.rollbacks = 0
        # data_version, read through the WAL index's header (storage/walindex.py): a file's
        # index is mapped by SQLite once the connection has read. Never change journal_mode
        # on this connection afterwards: leaving WAL makes SQLite unmap the index, and the
        # next read of the header would touch memory no longer mapped (a crash, not an error).
        wal = None
        if self._checkpointer is not None and self._pragma_version() >= 0:
            wal = WalIndex.find(url.sqlite_path)
        self._version = DataVersion(self._pragma_version, wal)
        self._begun = (0, 0)  # total_changes and rollbacks at the group commit's BEGIN

    def _pragma_version(self) -> int:
        return int(self._cursor.execute("PRAGMA data_version").fetchone()[0])

    def limit_page_cache(self, kib: int) -> None:
        """Keep at most ``kib`` KiB of pages in this connection's cache, and read the file
        through it rather than a memory map (the engine process: its hot data is kept in
        Python, and the cache, or the map, would hold every page a burst of REGISTERs
        writes or reads)."""
        self._db.execute(f"PRAGMA cache_size=-{int(kib)}")
        self._db.execute("PRAGMA mmap_size=0")

    def temp_in_memory(self) -> None:
        """Keep this connection's temporary files in memory (the engine process). Every
        writer runs in a savepoint, whose statement journal holds the first copy of each
        page the writer changes; past 64 KiB SQLite moves it to a temporary file, written
        a page at a time (two ``pwrite`` a page): the registrar's batch of a second's
        refreshes, 200 phones, wrote ~390 such pages a commit (strace). In memory it is copied and
        dropped at the savepoint's end. The engine sorts nothing large, so no other
        temporary data grows there."""
        self._db.execute("PRAGMA temp_store=MEMORY")

    def change_mark(self) -> tuple[int, int]:
        """A value that changes whenever data other than SIP lines may have changed.

        SQLite's ``data_version`` moves when another connection (another worker, the
        CLI) commits; this connection's own writes are counted here, except those to
        lines, bindings and the portal id counters, the hot writes that caches of
        portals, users and webhooks need not see.
        """
        return self._data_version(), self._writes

    def data_mark(self) -> tuple[int, int]:
        """A value that changes whenever any data may have changed, lines included: every
        statement of this connection but a read counts (even a COMMIT or a rollback)."""
        return self._data_version(), self._all_writes

    async def shared_change_mark(self) -> object:
        return self.change_mark()

    async def shared_data_mark(self, group: str) -> object:
        return self.data_mark()

    def _data_version(self) -> int:
        """``PRAGMA data_version``: moves when another connection commits (about 2 µs; not
        read again while the WAL index's header stands, storage/walindex.py). While this
        connection's group commit is open it holds the write lock, so no other connection
        can commit: the value read first in it holds until its COMMIT."""
        if self._batch is not None and self._held_version is not None:
            return self._held_version
        version = self._version()
        if self._batch is not None:
            self._held_version = version
        return version

    def _run(self, sql: str, params: Sequence[object]) -> sqlite3.Cursor:
        if not sql.startswith(_READS):
            self._all_writes += 1
            if not sql.startswith(_LINE_DATA):
                self._writes += 1
        try:
            return self._cursor.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise IntegrityViolationError(str(exc)) from exc
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(str(exc)) from exc

    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._run(sql, params).fetchall()

    async def fetch_one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        row: Row | None = self._run(sql, params).fetchone()
        return row

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._run(sql, params).rowcount

    async def append(self, insert: str, row: Sequence[object]) -> None:
        if self._writer_rows is None:  # no writer open: a statement of its own
            self._run(values_sql(insert, len(row), 1), row)
        else:
            self._writer_rows.append((insert, row))

    def _write_appended(self) -> None:
        """The appended rows of the group commit, one statement per table and 100 rows."""
        rows, self._batch_rows = self._batch_rows, []
        tables: dict[str, list[Sequence[object]]] = {}
        for insert, row in rows:
            tables.setdefault(insert, []).append(row)
        for insert, table_rows in tables.items():
            for first in range(0, len(table_rows), 100):
                chunk = table_rows[first : first + 100]
                values = [value for row in chunk for value in row]
                self._run(values_sql(insert, len(chunk[0]), len(chunk)), values)

    def transaction(self) -> _Transaction:
        """A write transaction, committed together with the others of this loop turn.

        Group commit: the first writer opens ``BEGIN IMMEDIATE`` and schedules one
        COMMIT for the end of the next event-loop turn; every writer runs in a
        savepoint of its own (so a failing one rolls back alone) and returns only
        once the shared COMMIT is done. A commit costs one WAL write however many
        writers it carries. Writers never interleave (the lock), and until the
        commit this process's own readers see the pending rows, except those
        ``append`` keeps for one multi-row statement written just before the COMMIT
        (a writer that fails drops its own with the rest of its savepoint).
        """
        return _Transaction(self)

    def _commit_next_turn(self) -> None:
        # One more loop turn before the COMMIT: the writers of the requests read meanwhile
        # share it too (under wrk's 32 connections about 25 writers a COMMIT instead of 15).
        asyncio.get_running_loop().call_soon(self._commit)

    def _commit(self) -> None:
        batch, self._batch = self._batch, None
        waiters, self._waiters = self._waiters, []
        held, self._held_version = self._held_version, None
        if batch is None:  # already committed by close()
            return
        try:
            self._write_appended()
            # A COMMIT writes frames if the batch changed rows and rolled nothing back.
            wrote = self._db.total_changes != self._begun[0] and self.rollbacks == self._begun[1]
            before = self._version.before_commit(held) if wrote else None
            self._run("COMMIT", ())
        except (DatabaseUnavailableError, IntegrityViolationError) as exc:
            self.rollbacks += 1
            self._writes += 1  # whatever the batch wrote is gone (COMMIT counted in _all_writes)
            self._db.rollback()
            batch.set_exception(exc)
            batch.exception()  # retrieved here too, so a batch nobody awaits stays quiet
            for waiter in waiters:
                if not waiter.done():  # (a cancelled writer's is)
                    waiter.set_exception(exc)
        else:
            if before is not None:
                self._version.after_commit(before)
            batch.set_result(None)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def close(self) -> None:
        if self._batch is not None:  # a group commit still pending: finish it first
            self._commit()
        self._version.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._db.close()


class _Transaction:
    """:meth:`SqliteDriver.transaction`, as a class: cheaper to enter and leave than an
    ``asynccontextmanager`` generator, and every write request enters one."""

    __slots__ = ("_batch", "_driver", "_rows")

    def __init__(self, driver: SqliteDriver) -> None:
        self._driver = driver

    async def __aenter__(self) -> SqliteDriver:
        driver = self._driver
        await driver._lock.acquire()
        try:
            batch = driver._batch
            if batch is None:
                driver._run("BEGIN IMMEDIATE", ())
                driver._held_version = None
                driver._begun = (driver._db.total_changes, driver.rollbacks)
                loop = asyncio.get_running_loop()
                batch = driver._batch = loop.create_future()
                loop.call_soon(driver._commit_next_turn)
            driver._run("SAVEPOINT writer", ())
        except BaseException:
            driver._lock.release()
            raise
        self._batch = batch
        self._rows = driver._writer_rows = []
        return driver

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        driver = self._driver
        try:
            if exc_type is not None:
                try:
                    driver.rollbacks += 1
                    driver._run("ROLLBACK TO writer", ())
                    driver._run("RELEASE writer", ())
                finally:
                    driver._writer_rows = None
                return  # the writer's exception goes on
            driver._writer_rows = None
            driver._run("RELEASE writer", ())
            driver._batch_rows += self._rows
        finally:
            driver._lock.release()
        batch = self._batch
        if batch.done():  # committed while the writer ran (it awaited across loop turns)
            batch.result()
            return
        # Not done, so still the open one: a future of this writer's own, set by _commit
        # (asyncio.shield's, with a callback a writer, cost more).
        waiter = asyncio.get_running_loop().create_future()
        driver._waiters.append(waiter)
        await waiter


class _Checkpointer:
    """A daemon thread that checkpoints the WAL every ``interval`` seconds.

    A PASSIVE checkpoint never waits for the writers, so under steady writing it never
    catches up: the writers have appended new frames by the time it has copied (and
    synced) the ones it saw, and the WAL only starts over from its beginning when a writer
    begins after every frame was copied. Measured with register + finish under wrk: the WAL
    grew by 14 KB a pair, past 350 MB in 25,000 pairs, for as long as the load lasted. So
    once the WAL holds more than ``restart_bytes`` of frames, a second PASSIVE pass and then
    a RESTART follow: it takes the write lock for the few frames left and the sync (writers
    wait in their busy handler meanwhile: 8.3 ms at most over 16,000 pairs at 1M rows), and
    the next writer starts the WAL over, so the file stays near ``restart_bytes``.
    """

    restart_bytes = 64 * 1024 * 1024

    def __init__(self, path: str, *, interval: float = 0.5) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        settled: tuple[int, int] | None = None  # the WAL file as a complete checkpoint left it
        try:
            db.execute("PRAGMA busy_timeout=1000")
            page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
            while not self._stop.wait(self._interval):
                seen = _stat(self._path + "-wal")
                if seen is None or seen == settled:
                    continue  # nothing written since everything was copied: no work
                try:
                    # PASSIVE never blocks the writers; once it has copied every frame,
                    # the next commit starts the WAL over from its beginning.
                    busy, log, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if log * page_size > self.restart_bytes:
                        # A second PASSIVE pass copies what was written during the first, so
                        # the RESTART (which holds the write lock) has only the newest left.
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        busy, log, copied = self._restart(db)
                except sqlite3.Error:
                    continue  # another process is checkpointing; try again later
                settled = _stat(self._path + "-wal") if busy == 0 and log == copied else None
        finally:
            db.close()

    @staticmethod
    def _restart(db: sqlite3.Connection) -> tuple[int, int, int]:
        """A RESTART checkpoint that holds the write lock for 50 ms at most while it waits
        (for the lock, then for readers of the old frames), not the usual second: the
        writers wait for it. Busy: the PASSIVE passes go on and it is tried again later."""
        db.execute("PRAGMA busy_timeout=50")
        try:
            busy, log, copied = db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            db.execute("PRAGMA busy_timeout=1000")
        return int(busy), int(log), int(copied)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _stat(path: str) -> tuple[int, int] | None:
    """Size and modification time of a file (None when it does not exist)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value
