"""The migrations build exactly the schema that storage/schema.py declares."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from trunkline.storage import migrate
from trunkline.storage.schema import metadata
from trunkline.storage.url import DatabaseUrl


def test_migrations_match_schema(tmp_path):
    url = DatabaseUrl(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    before, after = migrate.upgrade(url, shortcut=False)  # every migration, in order
    assert before is None and after == migrate.head_revision()
    engine = sa.create_engine(url.sqlalchemy_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_a_no_op(tmp_path):
    url = DatabaseUrl(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate.upgrade(url)
    before, after = migrate.upgrade(url)
    assert before == after == migrate.head_revision()
