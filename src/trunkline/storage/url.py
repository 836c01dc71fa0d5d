"""Database URLs: ``sqlite:///relative/or/absolute/path`` and ``postgresql://...``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class DatabaseUrlError(ValueError):
    pass


@dataclass(frozen=True)
class DatabaseUrl:
    raw: str

    def __post_init__(self) -> None:
        if not (self.is_sqlite or self.is_postgres):
            raise DatabaseUrlError(
                f"unsupported database URL {self.raw!r}: use sqlite:///path or postgresql://..."
            )

    @property
    def scheme(self) -> str:
        return self.raw.split(":", 1)[0].lower()

    @property
    def is_sqlite(self) -> bool:
        return self.scheme == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.scheme in ("postgresql", "postgres", "postgresql+asyncpg")

    @property
    def sqlite_path(self) -> str:
        """The file path (``:memory:`` for an in-memory database)."""
        path = self.raw.split(":///", 1)[1] if ":///" in self.raw else ""
        return path.split("?", 1)[0] or ":memory:"

    def ensure_parent(self) -> None:
        if self.is_sqlite and self.sqlite_path != ":memory:":
            Path(self.sqlite_path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)

    @property
    def asyncpg_dsn(self) -> str:
        """The URL as asyncpg takes it (no driver suffix)."""
        return "postgresql://" + self.raw.split("://", 1)[1].split("?", 1)[0]

    @property
    def postgres_schema(self) -> str | None:
        """``?schema=NAME`` selects a schema (the tests give each run its own)."""
        values = parse_qs(urlsplit(self.raw).query).get("schema")
        if not values:
            return None
        if not _IDENTIFIER.fullmatch(values[0]):
            raise DatabaseUrlError(f"schema name {values[0]!r} is not a plain identifier")
        return values[0]

    @property
    def sqlalchemy_url(self) -> str:
        if self.is_sqlite:
            return f"sqlite:///{self.sqlite_path}"
        rest = self.asyncpg_dsn.split("://", 1)[1].split("?", 1)[0]
        return f"postgresql+asyncpg://{rest}"

    @property
    def server_settings(self) -> dict[str, str]:
        """asyncpg ``server_settings`` (the search path of ``?schema=``)."""
        schema = self.postgres_schema
        return {"search_path": schema} if schema else {}

    def redacted(self) -> str:
        """The URL with any password replaced, for logs and start-up output."""
        parts = urlsplit(self.raw)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.raw
