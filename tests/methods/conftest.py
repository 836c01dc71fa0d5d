"""The ``oauth`` fixture of tests/auth (apps, tokens, a hand-driven clock) for method tests."""

from tests.auth.conftest import oauth  # noqa: F401
