"""Helpers for your own tests: Trunkline in-process (:func:`inprocess`, needs httpx:
``pip install 'trunkline[testing]'``) or as a real server process
(:class:`trunkline.testing.server.LiveServer`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trunkline.testing.client import InProcessClient, inprocess

__all__ = ["InProcessClient", "inprocess"]


def __getattr__(name: str) -> Any:
    """``inprocess`` and ``InProcessClient`` are imported on first use (they need httpx)."""
    if name in __all__:
        from trunkline.testing import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
