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
* ``--json`` prints machine-readable output for scripts and tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from trunkline.domain.clock import Clock
from trunkline.domain.portals import KNOWN_SCOPES, Portal
from trunkline.services.accounts import AccountError, AccountService
from trunkline.services.apps import AppService
from trunkline.services.control import ControlService
from trunkline.settings import Settings
from trunkline.storage.driver import DuplicateError
from trunkline.storage.store import Store
from trunkline.web.bootstrap import SEED_SCOPES, open_store

T = TypeVar("T")

PORTAL_HELP = "portal domain (default: the first portal)"
# The flags of `serve` (and the engine) that override a setting of the same name.
_OVERRIDES = (
    "database_url",
    "host",
    "port",
    "workers",
    "public_url",
    "redis_url",
    "operator_token",
)


class CliError(Exception):
    """A user-facing failure: printed without a traceback, exit status 2."""


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings: the environment, overridden by this command's flags."""
    overrides = {name: getattr(args, name, None) for name in _OVERRIDES}
    if getattr(args, "https_required", False):
        overrides["https_required"] = True
    if getattr(args, "limits", None) is True:  # serve --limits (portal state's is a string)
        overrides["limits"] = True
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
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else text)


def base_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def webhook_url(settings: Settings, user_id: int, code: str) -> str:
    return f"{base_url(settings)}/rest/{user_id}/{code}/"


def scopes(values: Sequence[str]) -> list[str]:
    """``--scope`` values (repeatable, comma-separated); the seed's scopes when none."""
    found = [s.strip() for value in values for s in value.split(",") if s.strip()]
    unknown = [s for s in found if s not in KNOWN_SCOPES]
    if unknown:
        raise CliError(f"unknown scope {', '.join(unknown)}; known: {', '.join(KNOWN_SCOPES)}")
    return found or list(SEED_SCOPES)


@dataclass
class Context:
    """What a command's work gets: its arguments, settings, the open store and clock."""

    args: argparse.Namespace
    settings: Settings
    store: Store
    clock: Clock = field(default_factory=Clock)

    @cached_property
    def accounts(self) -> AccountService:
        return AccountService(self.store.accounts)

    @cached_property
    def apps(self) -> AppService:
        return AppService(self.store.apps, self.store.accounts, self.settings, clock=self.clock)

    @cached_property
    def control(self) -> ControlService:
        return ControlService(self.store.control, self.store.accounts)

    async def portal(self) -> Portal:
        """The ``--portal`` portal, or the first one when the flag is absent."""
        domain = getattr(self.args, "portal", None)
        portal = await self.accounts.portal(domain)
        if portal is None:
            raise CliError(
                f"no portal {domain!r}"
                if domain
                else "no portal yet: run `trunkline portal create`"
            )
        return portal


def run(args: argparse.Namespace, work: Callable[[Context], Awaitable[T]]) -> T:
    """Open the (migrated) database of the command's settings, run ``work``, close it.
    A taken name or an unknown user or webhook becomes a :class:`CliError`."""
    settings = settings_from(args)

    async def main() -> T:
        clock = Clock()
        store = await open_store(settings, clock)
        try:
            return await work(Context(args, settings, store, clock))
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (DuplicateError, AccountError) as exc:
        raise CliError(str(exc)) from exc
