"""Recording files on disk: the bytes of ``call_files`` rows, one file per row.

Rules kept here, where the files are:

* A file is written in chunks to a temporary name in the record directory and renamed
  into place only when complete; a write that fails or passes the size cap removes
  what it wrote, so no partial file is ever left or pointed at. Nothing is held in
  memory whole.
* The directory is the ``record_dir`` setting, else beside the SQLite file
  (``<db>.records``), else ``trunkline-records`` in the working directory.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from trunkline.storage.url import DatabaseUrl


class TooLargeFileError(Exception):
    """The content passed the size cap (nothing was kept)."""


def record_directory(setting: str, url: DatabaseUrl) -> Path:
    if setting:
        return Path(setting)
    if url.is_sqlite and url.sqlite_path != ":memory:":
        return Path(f"{url.sqlite_path}.records")
    return Path("trunkline-records")


class RecordFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, chunks: Iterable[bytes], max_bytes: int) -> tuple[str, int, bytes]:
        """Store ``chunks``: (path, size, first bytes). Raises TooLargeFileError past the
        cap. Blocking: run it in a thread."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = secrets.token_hex(16)
        temporary = self.directory / f".{name}.part"
        size = 0
        head = b""
        try:
            with open(temporary, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLargeFileError(max_bytes)
                    if len(head) < 16:
                        head += chunk[: 16 - len(head)]
                    out.write(chunk)
            final = self.directory / name
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return str(final), size, head

    def remove(self, path: str) -> None:
        Path(path).unlink(missing_ok=True)
