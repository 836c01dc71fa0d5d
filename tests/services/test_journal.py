"""The request journal's masking and encoding (``services/journal.py``): secrets at any
depth become ``***``, and parameters with nothing to mask are encoded as they are."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import pytest

from trunkline.services.journal import MASK, encoded, masked


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {}),
        ({"TITLE": "A", "PASSWORD": "s3cret"}, {"TITLE": "A", "PASSWORD": MASK}),
        ({"FILTER": {"CONFIG_ID": 7, "token": "t"}}, {"FILTER": {"CONFIG_ID": 7, "token": MASK}}),
        ({"code": "c", "CODE": "d", "zipcode": "e"}, {"code": MASK, "CODE": MASK, "zipcode": "e"}),
        ({"auth": {"nested": "x"}, "ap": "y"}, {"auth": MASK, "ap": MASK}),
        ({"list": [{"secret": 1}, "plain", 2]}, {"list": [{"secret": MASK}, "plain", 2]}),
        ({"tuple": ({"Token": "t"}, None)}, {"tuple": [{"Token": MASK}, None]}),
        (
            {"cmd": {"a": "voximplant.sip.get?REG_ID=1&auth=topsecret&x=1"}},
            {"cmd": {"a": "voximplant.sip.get?REG_ID=1&auth=***&x=1"}},
        ),
        ({1: "one", "2": {3: "password"}}, {"1": "one", "2": {"3": "password"}}),
        (
            {"n": 1.5, "b": True, "z": None, "big": 2**70},
            {"n": 1.5, "b": True, "z": None, "big": 2**70},
        ),
        ({"odd": b"bytes"}, {"odd": "b'bytes'"}),
    ],
)
def test_encoded_masks_every_secret(params: dict[Any, Any], expected: dict[str, Any]):
    assert json.loads(encoded(params)) == expected


def test_masked_keeps_params_without_secrets_as_they_are():
    params = {"FILTER": {"CONFIG_ID": "7", "TITLE": ["a", "b=c"]}, "start": 50}
    assert masked(params) is params


def test_masked_copies_only_what_holds_a_secret():
    plain = {"TITLE": "A"}
    params = {"FIELDS": {"PASSWORD": "s3cret"}, "OTHER": plain, "LIST": [plain]}
    result = masked(params)
    assert result == {"FIELDS": {"PASSWORD": MASK}, "OTHER": plain, "LIST": [plain]}
    assert params["FIELDS"] == {"PASSWORD": "s3cret"}  # the caller's params are untouched
    assert result["OTHER"] is plain and result["LIST"] is params["LIST"]


class _Params(Mapping[str, Any]):
    """A mapping that is not a dict (as some parsers hand over)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


@pytest.mark.parametrize("kind", [_Params, MappingProxyType])
def test_encoded_takes_any_mapping(kind: Any):
    params = kind({"TITLE": "A", "inner": kind({"Password": "p"})})
    assert json.loads(encoded(params)) == {"TITLE": "A", "inner": {"Password": MASK}}
