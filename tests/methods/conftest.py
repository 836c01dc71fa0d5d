"""The ``oauth`` fixture of tests/auth (apps, tokens, a hand-driven clock) and the event
``recorder`` of tests/services for method tests."""

from tests.auth.conftest import oauth  # noqa: F401
from tests.services.conftest import recorder  # noqa: F401
