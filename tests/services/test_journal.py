"""The request journal's masking and encoding (``services/journal.py``): secrets at any
depth become ``***``, and parameters with nothing to mask are encoded as they are."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

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
        ({"pa\u017fsword": "x", "k\u00e9y": "v"}, {"pa\u017fsword": MASK, "k\u00e9y": "v"}),
        (
            {"note": "code", "AP": "1", "x": "a=1&Auth_key=2"},
            {"note": "code", "AP": MASK, "x": "a=1&Auth_key=***"},
        ),
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


_KEYS = st.sampled_from(
    ["TITLE", "FILTER", "code", "Code", "ap", "zipcode", "PASSWORD", "x_token", "AUTH", "pa\u017fs"]
) | st.text(max_size=8)
_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(max_size=12)
    | st.sampled_from(["a=1&auth=2", "code", "q?token=t&x=1", "\u017fecret=1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_encoded_is_the_masked_params_encoded(params: dict[str, Any]):
    assert encoded(params) == (orjson.dumps(masked(params)).decode() if params else "{}")
