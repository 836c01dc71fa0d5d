"""What every ``trunkline`` command shares: settings from flags, the options every
command takes, the store a command works in, and how results are printed.

Rules:

* Every command reads the same settings: ``TRUNKLINE_*`` variables, then its flags.
* ``options(parser)`` adds ``--database-url``, ``--json`` and ``--portal`` (each can be
  left out); ``run(args, work)`` migrates and opens the database, hands ``work`` a
  :class:`Context` (settings, store, clock, services, the ``--portal`` portal), and closes
  the database, whatever happens.
* An operator's mistake is a :class:`CliError` (or a ``ValueError``): printed as
  ``trunkline: <message>`` without a traceback, exit status 2.
* ``--json`` prints machine-readable output for scripts and tests; text output is a table
  with a header row (:func:`table`), ``yes``/``no`` and ``-`` rather than Python values.
* Warnings of a command go to stderr in the one log format (``cli/logs.py``).
* URLs printed for the user are the running server's (:meth:`Context.base_url`): the
  ``--public-url`` flag, else ``public_url``, else the URL the running ``serve`` of this
  database recorded, else ``http://<host>:<port>`` of the settings.
* Importing this module (and building the parser) imports nothing heavy: the settings,
  the store, the services and the web layer are imported when a command runs, so
  ``--help`` and shell completion stay fast (no dataclass is even built: each costs an
  ``exec``).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from trunkline.domain.clock import Clock
    from trunkline.domain.portals import Portal
    from trunkline.services.accounts import AccountService
    from trunkline.services.apps import AppService
    from trunkline.services.control import ControlService
    from trunkline.services.events import EventService
    from trunkline.services.outbox import Deliverer
    from trunkline.settings import Settings
    from trunkline.storage.store import Store

T = TypeVar("T")

PORTAL_HELP = "portal domain (default: the first portal)"
# The flags (of `serve`, the engine and a few others) that override a setting of the same name.
_OVERRIDES = (
    "database_url",
    "host",
    "port",
    "workers",
    "public_url",
    "redis_url",
    "operator_token",
    "log_level",
    "log_format",
    "admin_password",
    "seed_file",
    "seed_ids",
    "tls_dir",
)


class CliError(Exception):
    """A user-facing failure: printed without a traceback, exit status 2."""


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings: the environment, overridden by this command's flags."""
    from trunkline.settings import Settings

    overrides = {name: getattr(args, name, None) for name in _OVERRIDES}
    if getattr(args, "https_required", False):
        overrides["https_required"] = True
    if getattr(args, "limits", None) is True:  # serve --limits (portal state's is a string)
        overrides["limits"] = True
    if getattr(args, "tls", False) is True:  # serve --tls
        overrides["tls"] = True
    return Settings.from_env(**overrides)


def options(
    parser: argparse.ArgumentParser,
    *,
    json_flag: bool = True,
    portal: str | None = PORTAL_HELP,
) -> None:
    """``--database-url``, and unless left out ``--json`` and ``--portal`` (with its help)."""
    parser.add_argument(
        "--database-url",
        help="database URL (default: TRUNKLINE_DATABASE_URL or sqlite:///trunkline.sqlite3)",
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON")
    if portal is not None:
        parser.add_argument("--portal", help=portal)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    import json

    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else text)


def shown(value: Any) -> str:
    """A value as text output shows it: yes/no, ``-`` for nothing, lists joined by commas."""
    if value is None or value == "" or value == [] or value == ():
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(shown(v) for v in value)
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], empty: str) -> str:
    """Rows as aligned columns under a header row (``empty`` when there are none)."""
    if not rows:
        return empty
    cells = [[shown(row.get(c)) for c in columns] for row in rows]
    header = [c.upper() for c in columns]
    widths = [max(len(x) for x in column) for column in zip(header, *cells, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (header, *cells)
    ]
    return "\n".join(lines)


def settings_url(settings: Settings) -> str:
    """``public_url``, else ``http(s)://<host>:<port>`` of the settings (https with ``tls``)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if settings.tls else 'http'}://{host}:{settings.port}"


def webhook_url(base: str, user_id: int, code: str) -> str:
    return f"{base}/rest/{user_id}/{code}/"


def scopes(values: Sequence[str]) -> list[str]:
    """``--scope`` values (repeatable, comma-separated); the seed's scopes when none."""
    from trunkline.domain.portals import KNOWN_SCOPES
    from trunkline.web.bootstrap import SEED_SCOPES

    found = [s.strip() for value in values for s in value.split(",") if s.strip()]
    unknown = [s for s in found if s not in KNOWN_SCOPES]
    if unknown:
        raise CliError(f"unknown scope {', '.join(unknown)}; known: {', '.join(KNOWN_SCOPES)}")
    return found or list(SEED_SCOPES)


def _clock() -> Clock:
    from trunkline.domain.clock import Clock

    return Clock()


class Context:
    """What a command's work gets: its arguments, settings, the open store and clock."""

    def __init__(
        self, args: argparse.Namespace, settings: Settings, store: Store, clock: Clock
    ) -> None:
        self.args = args
        self.settings = settings
        self.store = store
        self.clock = clock
        self.closers: list[Callable[[], Awaitable[None]]] = []  # run when the command ends

    @cached_property
    def accounts(self) -> AccountService:
        from trunkline.services.accounts import AccountService

        return AccountService(self.store.accounts)

    @cached_property
    def apps(self) -> AppService:
        from trunkline.services.apps import AppService

        return AppService(
            self.store.apps,
            self.store.accounts,
            self.settings,
            clock=self.clock,
            events=self.events,
            deliverer=self.deliverer,
        )

    @cached_property
    def events(self) -> EventService:
        from trunkline.services.events import EventService

        return EventService(self.store.events, self.clock)

    @cached_property
    def deliverer(self) -> Deliverer:
        """Delivers what this command queued (``app install``), in this process."""
        from trunkline.events.http import FormPoster
        from trunkline.services.outbox import Deliverer

        poster = FormPoster()
        self.closers.append(poster.close)
        return Deliverer(
            self.store.events,
            self.store.apps,
            self.store.accounts,
            self.settings,
            self.clock,
            post=poster.post,
            base=self.base_url,
        )

    @cached_property
    def control(self) -> ControlService:
        from trunkline.services.control import ControlService

        return ControlService(self.store.control, self.store.accounts)

    async def portal(self) -> Portal:
        """The ``--portal`` portal, or the first one when the flag is absent."""
        domain = getattr(self.args, "portal", None)
        portal = await self.accounts.portal(domain)
        if portal is None:
            raise CliError(
                f"no portal {domain!r}"
                if domain
                else "no portal yet: run `trunkline serve` once, or `trunkline portal create`"
            )
        return portal

    async def base_url(self) -> str:
        """Where the server answers (see the rules above)."""
        if getattr(self.args, "public_url", None) or self.settings.public_url:
            return settings_url(self.settings)
        from trunkline.storage.processes import SERVER

        for record in await self.store.processes.live(SERVER):
            url = record.data.get("url")
            if isinstance(url, str) and url:
                return url.rstrip("/")
        return settings_url(self.settings)


def _log_warnings(level: str) -> None:
    """A command's warnings (an event not delivered, ...) in the one log format, on stderr:
    at ``warning`` unless ``log_level`` asks for less or for debug. Left alone when the
    process already has logging set up (a test run, an application embedding the CLI)."""
    import logging

    from trunkline.cli.logs import configure

    if not logging.getLogger().handlers:
        configure(level if level in ("debug", "error", "critical") else "warning")


def run(args: argparse.Namespace, work: Callable[[Context], Awaitable[T]]) -> T:
    """Open the (migrated) database of the command's settings, run ``work``, close it.
    A taken name, an unknown user or webhook, or a refused REST rule becomes a
    :class:`CliError`."""
    import asyncio

    from trunkline.errors import RestError
    from trunkline.services.accounts import AccountError
    from trunkline.storage.driver import DuplicateError
    from trunkline.web.bootstrap import open_store

    settings = settings_from(args)
    _log_warnings(settings.log_level)

    async def main() -> T:
        clock = _clock()
        store = await open_store(settings, clock)
        ctx = Context(args, settings, store, clock)
        try:
            return await work(ctx)
        finally:
            for close in ctx.closers:
                await close()
            await store.close()

    try:
        return asyncio.run(main())
    except (DuplicateError, AccountError) as exc:
        raise CliError(str(exc)) from exc
    except RestError as exc:  # a line refused by the same rules as voximplant.sip.*
        text = exc.error_description.replace("<br> ", "; ") or exc.error_code
        raise CliError(f"{text} ({exc.error_code})") from exc
