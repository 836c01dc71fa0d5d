"""The decorator of the small value objects made once a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, dataclass_transform

__all__ = ["request_value"]

T = TypeVar("T")


@dataclass_transform()
def request_value(cls: type[T]) -> type[T]:
    """A slotted dataclass compared and hashed by value, for objects made per request and
    never changed once made. Not ``frozen``: a frozen dataclass sets each field through
    ``object.__setattr__``, about 4x a plain slot, and these are built on every request."""
    return dataclass(slots=True, unsafe_hash=True)(cls)
