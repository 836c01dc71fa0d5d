"""An opened database: the driver, the cipher, the clock, and one repository per subject.

One implementation for both backends: the SQL is shared, the drivers differ
(``storage/driver.py``). ``Store`` itself reads nothing; it opens the driver and hands
each subject's repository the driver (and, where rows hold secrets, the cipher):

    store.accounts       portals, users, passwords, webhooks   (storage/accounts.py)
    store.lines          SIP lines and their caches            (storage/lines.py)
    store.apps           OAuth apps, installs, codes, tokens   (storage/apps.py)
    store.control        portal states and injected faults     (storage/control.py)
    store.registrations  what the SIP engine reads and writes  (storage/registrations.py)
    store.calls          live calls, statistics, records       (storage/calls.py)
    store.processes      the running servers and engines       (storage/processes.py)
    store.snapshots      portal snapshots by name              (storage/snapshots.py)
    store.journal        the request journal                   (storage/journal.py)
    store.values         the operator's shared values          (storage/values.py)
    store.external_lines applications' external lines       (storage/external_lines.py)
    store.uploads        recording upload URLs                 (storage/uploads.py)
    store.crm            the minimal CRM                       (storage/crm.py)
    store.cluster        engine nodes' leases, line ownership  (storage/cluster.py)
    store.telephony      portal options, users' SIP phones     (storage/telephony.py)
    store.events         event bindings, outbox, journal       (storage/events.py)
    store.history        each line's registration history      (storage/history.py)

Only the composition root (``web/``), the CLI and the engine's process open a
``Store``; everything else is handed the one repository it needs, or reads through a
Protocol listing exactly its reads.
"""

from __future__ import annotations

from trunkline.domain.clock import Clock
from trunkline.storage.accounts import AccountRepository
from trunkline.storage.apps import AppRepository
from trunkline.storage.calls import CallRepository
from trunkline.storage.cluster import ClusterRepository
from trunkline.storage.control import ControlRepository
from trunkline.storage.crm import CrmRepository
from trunkline.storage.driver import Driver, SqliteDriver, open_failure
from trunkline.storage.events import EventRepository
from trunkline.storage.external_lines import ExternalLineRepository
from trunkline.storage.history import HistoryRepository
from trunkline.storage.journal import JournalRepository
from trunkline.storage.lines import LineRepository
from trunkline.storage.processes import ProcessRepository
from trunkline.storage.registrations import RegistrationStore
from trunkline.storage.secrets import Cipher
from trunkline.storage.snapshots import SnapshotRepository
from trunkline.storage.telephony import TelephonyRepository
from trunkline.storage.uploads import UploadRepository
from trunkline.storage.url import DatabaseUrl
from trunkline.storage.values import OperatorValues


async def open_driver(url: DatabaseUrl) -> Driver:
    """The driver of ``url``, connected; a :class:`DatabaseOpenError` when it cannot be."""
    try:
        if url.is_sqlite:
            return SqliteDriver(url)
        from trunkline.storage.postgres import PostgresDriver  # asyncpg: PostgreSQL only

        return await PostgresDriver.connect(url)
    except Exception as exc:
        failure = open_failure(url, exc)
        if failure is None:
            raise
        raise failure from exc


_RUNNING = {"processes", "engine_nodes", "engine_buckets"}  # kept by ``db reset``


class Store:
    def __init__(self, driver: Driver, cipher: Cipher, clock: Clock | None = None) -> None:
        self.driver = driver
        self.cipher = cipher
        self.clock = clock or Clock()
        self.accounts = AccountRepository(driver, self.clock)
        self.lines = LineRepository(driver, cipher, self.clock)
        self.apps = AppRepository(driver, cipher, self.clock)
        self.control = ControlRepository(driver, self.clock)
        self.registrations = RegistrationStore(driver, cipher)
        self.calls = CallRepository(driver)
        self.processes = ProcessRepository(driver, self.clock)
        self.snapshots = SnapshotRepository(driver, self.clock)
        self.journal = JournalRepository(driver)
        self.values = OperatorValues(driver)
        self.external_lines = ExternalLineRepository(driver)
        self.uploads = UploadRepository(driver)
        self.crm = CrmRepository(driver)
        self.cluster = ClusterRepository(driver)
        self.telephony = TelephonyRepository(driver, cipher)
        self.events = EventRepository(driver, cipher)
        self.history = HistoryRepository(driver)

    @classmethod
    async def open(cls, url: DatabaseUrl, cipher: Cipher, clock: Clock | None = None) -> Store:
        return cls(await open_driver(url), cipher, clock)

    async def close(self) -> None:
        await self.driver.close()

    @property
    def dialect(self) -> str:
        return self.driver.dialect

    async def ping(self) -> None:
        await self.driver.fetch_one("SELECT 1")

    async def counts(self) -> dict[str, int]:
        """Rows per table (``trunkline db status``)."""
        from trunkline.storage.schema import metadata

        found: dict[str, int] = {}
        for table in metadata.sorted_tables:
            row = await self.driver.fetch_one(f"SELECT COUNT(*) FROM {table.name}")
            found[table.name] = int(row[0]) if row else 0
        return found

    async def clear(self) -> dict[str, int]:
        """Delete every row but the running processes' (``trunkline db reset``), in one
        transaction, children first; rows deleted per table."""
        from trunkline.storage.schema import metadata

        deleted: dict[str, int] = {}
        async with self.driver.transaction() as conn:
            for table in reversed(metadata.sorted_tables):
                if table.name not in _RUNNING:
                    deleted[table.name] = await conn.execute(f"DELETE FROM {table.name}")
        return deleted
