"""Fixtures of the CLI tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def db(workdir):
    """A database URL in the test's own directory."""
    return f"sqlite:///{workdir / 'cli.sqlite3'}"
