"""The WAL-index header of a SQLite database, read from this process's own map of its
``-shm`` file: has any connection committed since a given moment? (storage/driver.py asks
before it pays a ``PRAGMA data_version``: ~14k instructions, against ~4k.)

Rules (SQLite's WAL-index format, https://www.sqlite.org/walformat.html, and wal.c):

* The ``-shm`` file starts with two copies of a 48-byte header, written by a committing
  connection (the second copy first, then the first) while it holds the WAL write lock.
  Every commit that writes frames increments the header's ``iChange`` (and moves
  ``mxFrame`` and the frame checksum); a WAL restart changes the salts. So no header state
  ever comes back once left. A connection's ``data_version`` moves exactly when, at the
  start of one of its read transactions, the header differs from the copy it last saw (or
  the index is rebuilt, which rewrites it): its own commits write the header it then holds.
* So the 96 bytes read just before a ``PRAGMA data_version`` go with its value: while they
  are the same, so is the value. A header read while another connection writes it (torn)
  is never seen again once that write ends: the next read differs and costs the PRAGMA.
* This connection's own COMMIT (of a transaction that changed rows and rolled nothing
  back, so it writes frames: the driver checks) keeps its value. Just before it, holding
  the write lock, the header is read; just after, it is read again and taken with the
  value held in the transaction when its ``iChange`` counts exactly one more commit.
  More means another connection committed in between (left to the PRAGMA); a header that
  COMMIT did not change is not the index SQLite writes: it is never read again.
* The map read is SQLite's own (found in ``/proc/self/maps``, offset 0 of the ``-shm`` file
  of that device and inode, mapped shared and readable): no descriptor of ours is opened,
  since closing any descriptor of that file would drop the process's POSIX locks on it.
  SQLite keeps that map for as long as a connection of this process has the database
  open; the driver stops reading it before its own connection closes.
* Anything unexpected when it is looked for (no ``/proc``, no map or several, an index not
  initialised or of another version, copies that differ) means no index: the PRAGMA.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from collections.abc import Callable

__all__ = ["DataVersion", "WalIndex", "change_count"]

HEADER = 48  # one copy
VERSION = 3007000  # WALINDEX_MAX_VERSION


_COUNT = struct.Struct("=I")  # iChange, at offset 8 (native byte order)


def change_count(header: bytes) -> int:
    """``iChange``: the commits counted in a header (wraps at 2**32)."""
    return int(_COUNT.unpack_from(header, 8)[0])


class WalIndex:
    """The header of one database's WAL index, as this process maps it."""

    __slots__ = ("_view",)

    def __init__(self, view: ctypes.Array[ctypes.c_char]) -> None:
        self._view = view

    @classmethod
    def find(cls, database: str) -> WalIndex | None:
        """The index of the database file ``database`` (a connection of this process has
        it open in WAL mode and has read it); None when it cannot be found for sure."""
        shm = os.path.realpath(database) + "-shm"
        try:
            st = os.stat(shm)
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
                lines = maps.read().splitlines()
        except OSError:
            return None
        device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}"
        found = []
        for line in lines:
            fields = line.split(maxsplit=5)
            if (
                len(fields) == 6
                and fields[5] == shm
                and fields[4] == str(st.st_ino)
                and fields[3] == device
                and int(fields[2], 16) == 0
                and fields[1].startswith("r")
                and fields[1].endswith("s")
            ):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                found.append((start, end))
        if len(found) != 1 or found[0][1] - found[0][0] < 2 * HEADER:
            return None
        index = cls((ctypes.c_char * (2 * HEADER)).from_address(found[0][0]))
        header = index.header()
        if header is None or int.from_bytes(header[:4], sys.byteorder) != VERSION:
            return None
        return index

    def raw(self) -> bytes:
        """Both copies of the header as they are now (96 bytes)."""
        return self._view.raw

    def header(self) -> bytes | None:
        """Both copies (96 bytes) when they agree and the index is initialised, else None
        (torn by a write in progress, or not an index)."""
        both = self._view.raw
        if both[:HEADER] != both[HEADER:] or both[12] != 1:
            return None
        return both


class DataVersion:
    """One connection's ``PRAGMA data_version`` (``read``), read again only when the WAL
    index's header moved since the last read (see the rules above)."""

    __slots__ = ("_read", "_seen", "_version", "_view")

    def __init__(self, read: Callable[[], int], wal: WalIndex | None) -> None:
        self._read = read
        self._view = None if wal is None else wal._view
        self._seen: bytes | None = None  # the header just before the last read
        self._version = 0  # that read's value

    def __call__(self) -> int:
        view = self._view
        raw = None
        if view is not None:
            raw = view.raw
            if raw == self._seen:
                return self._version
        version = self._read()
        self._seen, self._version = raw, version
        return version

    def before_commit(self, held: int | None) -> tuple[bytes, int] | None:
        """The header just before a COMMIT that writes frames, with the value in its
        transaction (``held``, or the one kept while the header stands); None when not
        known without a read."""
        view = self._view
        if view is None:
            return None
        raw = view.raw
        if held is None:
            if raw != self._seen:
                return None
            held = self._version
        return raw, held

    def after_commit(self, before: tuple[bytes, int]) -> None:
        """Keep the header that COMMIT wrote with the value it had (see the rules)."""
        view = self._view
        if view is None:
            return
        raw, version = before
        now = view.raw
        if _COUNT.unpack_from(now, 8)[0] == (_COUNT.unpack_from(raw, 8)[0] + 1) & 0xFFFFFFFF:
            self._seen, self._version = now, version
        elif now == raw:
            self._view = self._seen = None

    def close(self) -> None:
        """Stop reading the index (before the connection closes: SQLite unmaps it)."""
        self._view = self._seen = None
