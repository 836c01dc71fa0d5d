"""What runs before any worker starts, and what every process derives from the settings.

Start-up phases, in order: :func:`prepare` (once, before any worker starts: the
database is migrated and, when empty, seeded), then per worker the application's
``startup`` (``web/app.py``) and ``shutdown``.

Rules:

* The secret key is the ``secret_key`` setting, else the key file (``key_file``, else
  beside the SQLite file, else ``trunkline.key``), created on first use. It encrypts SIP
  passwords at rest, and the seeded webhook's code and the SIP engine's nonce secret are
  derived from it, so every start prints the same webhook URL without storing the code.
* Seeding happens only on an empty database with ``seed`` on: a portal
  (``default_portal_domain``), administrator user 1 (login ``admin``) with a sign-in
  password (``admin_password``, else a random one that ``serve`` prints once; stored as an
  argon2id hash), and a ``telephony`` webhook for user 1.
* The SIP engine runs inside the worker when there is one worker, in a process of its
  own when there are several, or not at all (``sip_engine``).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trunkline.auth import passwords
from trunkline.domain.clock import Clock
from trunkline.domain.ids import Ids
from trunkline.domain.portals import Portal
from trunkline.services.accounts import AccountService
from trunkline.services.apps import AppService
from trunkline.services.crm import CrmService
from trunkline.services.events import EventService
from trunkline.services.lines import LineService
from trunkline.services.readback import portal_answer
from trunkline.services.scenario import (
    PortalBuilder,
    Scenario,
    ScenarioError,
    parse,
)
from trunkline.settings import Settings, SettingsError
from trunkline.storage import migrate
from trunkline.storage.secrets import Cipher, load_or_create_key
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl

if TYPE_CHECKING:
    from trunkline.engine.runtime import Engine

SEED_SCOPES = ["telephony"]


def key_path(settings: Settings, url: DatabaseUrl) -> Path:
    if settings.key_file:
        return Path(settings.key_file)
    if url.is_sqlite and url.sqlite_path != ":memory:":
        return Path(url.sqlite_path + ".key")
    return Path("trunkline.key")


def secret_key(settings: Settings, url: DatabaseUrl) -> str:
    """The secret key: the setting, else the key file (created on first use)."""
    return settings.secret_key or load_or_create_key(key_path(settings, url))


def cipher_for(settings: Settings, url: DatabaseUrl) -> Cipher:
    return Cipher(secret_key(settings, url))


def seed_code(settings: Settings, url: DatabaseUrl) -> str:
    """The seeded webhook's code, derived from the secret key.

    Only its hash is stored; deriving it lets every start print the same URL
    without keeping the code anywhere in clear.
    """
    key = secret_key(settings, url).encode()
    digest = hmac.new(key, b"trunkline seed webhook", hashlib.sha256).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % 36] for b in digest[:16])


def operator_token(settings: Settings, url: DatabaseUrl) -> str:
    """The operator token: the setting, or with ``auto`` one derived from the secret key
    (the same at every start, printed by ``serve``)."""
    if settings.operator_token != "auto":
        return settings.operator_token
    key = secret_key(settings, url).encode()
    return hmac.new(key, b"trunkline operator token", hashlib.sha256).hexdigest()[:32]


def engine_mode(settings: Settings) -> str:
    """Where the SIP engine runs: ``inprocess``, ``process`` or ``off`` (``sip_engine``)."""
    if settings.sip_engine == "auto":
        return "inprocess" if settings.workers <= 1 else "process"
    return settings.sip_engine


def settle_collector() -> None:
    """Once a long-lived process (a web worker, the engine) has started: what start-up
    allocated lives as long as the process, so keep it out of the cyclic collector's way,
    and collect the young generation less often. Measured: `voximplant.sip.get` by
    CONFIG_ID 174 -> 155 µs of CPU a request; the registrar (bench/sip/README.md)."""
    gc.freeze()
    gc.set_threshold(7000, 10, 10)


ENGINE_PAGE_CACHE_KIB = 2048  # SQLite's default: the engine keeps its hot data in Python


def engine_process(store: Store) -> None:
    """The store of an engine run as a process of its own (``trunkline engine``): a small
    SQLite page cache and no memory map of the file (the registrar keeps its phones and
    challenges in memory; a burst of 10,000 REGISTERs otherwise left every page it wrote
    in the cache, 8 MiB, 64 MiB before: 1.5 KB a binding, and the map held 2 MB of the
    pages it read), its statement journals in memory rather than in temporary files
    (SqliteDriver.temp_in_memory), and cryptography loaded now rather than at the first
    REGISTER with credentials (bench/sip/README.md)."""
    store.cipher.load()
    limit = getattr(store.driver, "limit_page_cache", None)  # SQLite only
    if limit is not None:
        limit(ENGINE_PAGE_CACHE_KIB)
        store.driver.temp_in_memory()  # type: ignore[attr-defined]


def build_engine(settings: Settings, url: DatabaseUrl, store: Store) -> Engine:
    # Imported here: a server without the engine in it never loads the SIP stack.
    from trunkline.engine.runtime import Engine, engine_secret

    return Engine(store, settings, secret=engine_secret(secret_key(settings, url)))


async def open_store(settings: Settings, clock: Clock | None = None) -> Store:
    """The database of the settings, migrated to the newest schema, opened."""
    url = DatabaseUrl(settings.database_url)
    await migrate.upgrade_async(url)
    return await Store.open(url, cipher_for(settings, url), clock)


ADMIN_LOGIN = "admin"


@dataclass
class Seed:
    portal: Portal
    user_id: int
    code: str | None  # None when the seeded webhook no longer exists
    login: str | None = None  # user 1's login (None: user 1 no longer exists)
    password: str | None = None  # the administrator's password, when made by this start


def admin_hash(settings: Settings) -> asyncio.Future[tuple[str, str]]:
    """The administrator's sign-in password (``admin_password``, else a new one) and its
    argon2id hash (a new one's at the light cost of ``passwords.hash_generated``), made in a
    thread (argon2 releases the GIL: it runs beside other work)."""
    chosen = settings.admin_password
    password = chosen or passwords.new_password()
    hashing = passwords.hash_password if chosen else passwords.hash_generated

    def work() -> tuple[str, str]:
        return password, hashing(password)

    return asyncio.ensure_future(asyncio.to_thread(work))


async def seed(
    store: Store,
    settings: Settings,
    url: DatabaseUrl,
    *,
    password_hash: str | None = None,
    hashing: asyncio.Future[tuple[str, str]] | None = None,
    again: bool = False,
) -> Seed | None:
    """On an empty database: portal, administrator 1, telephony webhook for user 1.
    ``again`` (an operator's reset): when the seeded portal is missing, whatever else
    exists; ``password_hash``: the administrator's, kept over the reset; ``hashing``: a
    (password, hash) already being made (``serve`` starts it beside the migrations)."""
    accounts = AccountService(store.accounts)
    code = seed_code(settings, url)
    portal = await accounts.portal(settings.default_portal_domain if again else None)
    password = None
    if portal is None:
        if not settings.seed:
            return None
        hashed = password_hash or ""
        if not hashed:
            try:
                password, hashed = await (hashing or admin_hash(settings))
            except passwords.WeakPasswordError as exc:
                raise SettingsError("admin_password", "(hidden)", str(exc)) from None
        portal = await accounts.create_portal(settings.default_portal_domain, title="Trunkline")
        await accounts.create_user(
            portal, ADMIN_LOGIN, name="Admin", last_name="Trunkline", is_admin=True, user_id=1
        )
        await store.accounts.set_password_hash(portal.id, 1, hashed)
        await accounts.create_webhook(portal, 1, SEED_SCOPES, title="Quick start", code=code)
    exists = await accounts.webhook_exists(code)
    admin = await store.accounts.get_user(portal.id, 1)
    login = admin.login if admin is not None else None
    return Seed(portal, 1, code if exists else None, login, password)


def read_scenario(path: str) -> Scenario:
    """The scenario document of ``seed_file`` checked (SettingsError when it cannot be)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError("seed_file", path, f"cannot read it as JSON: {exc}") from None
    try:
        return parse(document)
    except ScenarioError as exc:
        raise SettingsError("seed_file", path, str(exc)) from None


async def seed_scenario(
    store: Store, settings: Settings, base: str, ids: Ids | None = None
) -> dict[str, Any] | None:
    """Build ``seed_file``'s portal unless it exists: what was made (secrets once), or
    ``{"portal": {"domain": ...}, "existing": true}``; None without a seed file. ``ids``:
    the worker's source of ids (default: one from ``seed_ids``)."""
    if not settings.seed_file:
        return None
    scenario = read_scenario(settings.seed_file)
    ids = ids or Ids(None if settings.seed_ids < 0 else settings.seed_ids)
    accounts = AccountService(store.accounts, ids=ids)
    found = await accounts.portal(scenario.domain)
    if found is not None:
        return {"portal": portal_answer(found), "existing": True}
    clock = store.clock
    # Its ONAPPINSTALL events stay in the outbox for the server's deliverer.
    events = EventService(store.events, clock)
    apps = AppService(store.apps, store.accounts, settings, clock=clock, events=events, ids=ids)
    crm = CrmService(store.crm, store.accounts, store.clock)
    builder = PortalBuilder(accounts, apps, LineService(store.lines, settings, ids=ids), crm)
    try:
        built = await builder.build(scenario, base)
    except ScenarioError as exc:
        raise SettingsError("seed_file", settings.seed_file, str(exc)) from None
    return {
        "portal": portal_answer(built.portal),
        "webhooks": built.webhooks,
        "apps": built.apps,
        "lines": built.lines,
        "crm": built.crm,
    }


async def reseed(
    store: Store,
    settings: Settings,
    url: DatabaseUrl,
    base: str,
    *,
    password_hash: str | None,
    only: str | None = None,
    ids: Ids | None = None,
) -> dict[str, Any]:
    """After an operator's reset: the start-up seed again when its portal is missing (the
    same webhook code, the administrator's password hash kept) and ``seed_file``'s portal
    when it is missing; with ``only``, just the one of them whose domain that is."""
    made = None
    if only is None or only == settings.default_portal_domain.lower():
        made = await seed(store, settings, url, password_hash=password_hash, again=True)
    scenario = None
    if settings.seed_file and (only is None or read_scenario(settings.seed_file).domain == only):
        scenario = await seed_scenario(store, settings, base, ids)
    hook = None
    if made is not None and made.code is not None:
        hook = f"{base.rstrip('/')}/rest/{made.user_id}/{made.code}/"
    return {
        "portal": None if made is None else made.portal.domain,
        "webhook_url": hook,
        "scenario": scenario,
    }


async def prepare(settings: Settings) -> Seed | None:
    """Migrate the database to the newest schema and seed it when empty."""
    url = DatabaseUrl(settings.database_url)
    store = await open_store(settings)
    try:
        return await seed(store, settings, url)
    finally:
        await store.close()
