"""The change counters of the caches on PostgreSQL: the table, the trigger function, and
which tables move which counter (storage/changes.py reads them).

Rules:

* ``CACHED_TABLES`` names, per group, every table a cached answer is read from. A
  transaction that changes a row of one of them adds 1 to its group's counter as it commits
  (a deferred row-level constraint trigger; the first row of each group in a transaction
  bumps, the others find a transaction-local flag), so other nodes see the new count
  exactly when they can see the new rows. TRUNCATE bumps at once (a statement trigger).
  ``tests/storage/test_mark_triggers.py`` checks that every table the cached queries read
  is listed here and carries the triggers, on a fresh and on a migrated schema.
* Portals move the ``accounts`` counter only through the columns the caches read
  (``PORTAL_COLUMNS``): ``sip.add`` bumps ``last_config_id``/``last_reg_id`` on every call,
  and that must not empty every node's authentication cache.
* **The bump takes its counter row's lock only while committing**, never earlier. A
  transaction holding a counter row while it waited for its client could block an
  unrelated writer of the same row, and a task of the same process that waited for that
  writer (a write through the pool while a line writer is open) would wait forever; at
  commit nothing waits for a client, so writers of one row just commit one after the other.
* The counters are spread over ``SLOTS`` rows, the slot picked by the transaction id, so
  concurrent commits rarely meet on one row. A reader sums each column (the values only
  grow, so the sum moves whenever any slot does).
* The function runs with the search path it was created under (the schema of
  ``?schema=``), so a write from any session, whatever its own search path, finds the table.
* SQLite has none of this: it keeps ``PRAGMA data_version`` (storage/driver.py).
"""

from __future__ import annotations

from trunkline.storage.changes import GROUPS
from trunkline.storage.rows import PORTAL_COLUMNS

__all__ = ["CACHED_TABLES", "SLOTS", "create_statements", "drop_statements"]

SLOTS = 32

CACHED_TABLES: dict[str, tuple[str, ...]] = {
    # webhook_with_owner (webhooks, users, portals), get_user, the event bindings of fan_out
    "accounts": ("portals", "users", "webhooks", "event_bindings"),
    # voximplant.sip.get's answer cache (storage/lines.py)
    "lines": ("lines",),
    # voximplant.statistic.get's page cache (storage/calls.py)
    "calls": ("call_statistics",),
    # the registrar's phone accounts and bindings (engine/phones.py; with "accounts")
    "phones": ("user_phones", "phone_bindings"),
}

# Tables whose trigger fires on updates of these columns only (others: any update).
WATCHED_COLUMNS: dict[str, tuple[str, ...]] = {"portals": PORTAL_COLUMNS}

_BUMP = ", ".join(f"{g} = {g} + (TG_ARGV[0] = '{g}')::int" for g in GROUPS)
_FLAG = "'trunkline.cache_mark_' || TG_ARGV[0]"


def create_statements() -> list[str]:
    """The DDL that installs the counters and every trigger (run in the target schema)."""
    columns = ", ".join(f"{g} BIGINT NOT NULL DEFAULT 0" for g in GROUPS)
    out = [
        f"CREATE TABLE cache_marks (slot SMALLINT PRIMARY KEY, {columns})",
        f"INSERT INTO cache_marks (slot) SELECT generate_series(0, {SLOTS - 1})",
        *function_statements(),
    ]
    for group, tables in CACHED_TABLES.items():
        for table in tables:
            out += trigger_statements(table, group, WATCHED_COLUMNS.get(table))
    return out


def function_statements() -> list[str]:
    return [
        "CREATE OR REPLACE FUNCTION cache_marks_bump() RETURNS trigger LANGUAGE plpgsql"
        " SET search_path FROM CURRENT AS $$ BEGIN"
        " IF TG_LEVEL = 'ROW' THEN"
        f" IF current_setting({_FLAG}, true) = '1' THEN RETURN NULL; END IF;"
        f" PERFORM set_config({_FLAG}, '1', true);"
        " END IF;"
        f" UPDATE cache_marks SET {_BUMP} WHERE slot = mod(txid_current(), {SLOTS});"
        " RETURN NULL; END $$"
    ]


def trigger_statements(table: str, group: str, watched: tuple[str, ...] | None) -> list[str]:
    update = f"UPDATE OF {', '.join(watched)}" if watched else "UPDATE"
    return [
        f"CREATE CONSTRAINT TRIGGER cache_mark AFTER INSERT OR {update} OR DELETE ON {table}"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
        f" EXECUTE FUNCTION cache_marks_bump('{group}')",
        f"CREATE TRIGGER cache_mark_truncate AFTER TRUNCATE ON {table}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION cache_marks_bump('{group}')",
    ]


def drop_statements() -> list[str]:
    return [
        *(
            f"DROP TRIGGER IF EXISTS {name} ON {table}"
            for tables in CACHED_TABLES.values()
            for table in tables
            for name in ("cache_mark", "cache_mark_truncate")
        ),
        "DROP FUNCTION IF EXISTS cache_marks_bump()",
        "DROP TABLE IF EXISTS cache_marks",
    ]
