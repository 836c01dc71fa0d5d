"""PHP parse_str semantics and the parameter merge (rest/params.py)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.rest.params import (
    NestingTooDeepError,
    check_depth,
    listify,
    merge,
    parse_json_body,
    parse_query,
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a=1&b=2", {"a": "1", "b": "2"}),
        ("a=1&a=2", {"a": "2"}),
        ("a=1&", {"a": "1"}),
        ("&&a=1&&", {"a": "1"}),
        ("a", {"a": ""}),
        ("a=", {"a": ""}),
        ("=x", {}),
        ("a+b=c+d", {"a_b": "c d"}),
        ("a.b=1", {"a_b": "1"}),
        ("%20a=1", {"a": "1"}),
        ("a%5Bb%5D=1", {"a": {"b": "1"}}),
        ("FILTER[CONFIG_ID][]=3&FILTER[CONFIG_ID][]=7", {"FILTER": {"CONFIG_ID": ["3", "7"]}}),
        ("FILTER[CONFIG_ID][0]=3&FILTER[CONFIG_ID][1]=7", {"FILTER": {"CONFIG_ID": ["3", "7"]}}),
        ("x[1]=a&x[0]=b", {"x": {"1": "a", "0": "b"}}),
        ("x[5]=a&x[]=b", {"x": {"5": "a", "6": "b"}}),
        ("x[a]=1&x[]=2", {"x": {"a": "1", "0": "2"}}),
        ("x[01]=a", {"x": {"01": "a"}}),
        ("FILTER[%3E%3DREG_ID]=5", {"FILTER": {">=REG_ID": "5"}}),
        ("FILTER[>=REG_ID]=5", {"FILTER_>": "REG_ID]=5"}),  # PHP splits at the first "="
        ("a[b=1", {"a_b": "1"}),
        ("a[b]c=1", {"a": {"b": "1"}}),
        ("a[b][c=1", {"a": {"b": "1"}}),
        ("a=1&a[b]=2", {"a": {"b": "2"}}),
        ("a[b]=2&a=1", {"a": "1"}),
        (
            "cmd[a]=voximplant.sip.get%3FFILTER%255BX%255D%3D1",
            {"cmd": {"a": "voximplant.sip.get?FILTER%5BX%5D=1"}},
        ),
        ("t=%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82", {"t": "привет"}),
        ("t=%FF%FE", {"t": "\ufffd\ufffd"}),
        ("[a]=1", {}),
    ],
)
def test_parse_query_php_rules(query, expected):
    assert parse_query(query) == expected
    assert parse_query(query.encode()) == expected


def test_parse_query_trailing_data_after_pairs_is_independent():
    assert parse_query("a=1&b[c]=2&junk") == {"a": "1", "b": {"c": "2"}, "junk": ""}


def test_parse_query_nesting_limit():
    assert parse_query("a" + "[x]" * 63 + "=1")
    with pytest.raises(NestingTooDeepError):
        parse_query("a" + "[x]" * 64 + "=1")
    with pytest.raises(NestingTooDeepError):
        parse_query("a" + "[x]" * 1000 + "=1")


def test_parse_query_max_vars_drops_the_rest():
    assert parse_query("a=1&b=2&c=3", max_vars=2) == {"a": "1", "b": "2"}


def test_listify_only_sequential_keys():
    assert listify({"0": "a", "1": "b"}) == ["a", "b"]
    assert listify({"1": "a", "0": "b"}) == {"1": "a", "0": "b"}
    assert listify({}) == {}
    assert listify({"0": {"0": "x"}}) == [["x"]]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b"{bad json", {}),
        (b"[1, 2]", {}),
        (b'"text"', {}),
        (b'{"a": "\xff"}', {}),
        (b"", {}),
    ],
)
def test_parse_json_body(body, expected):
    assert parse_json_body(body) == expected


def test_parse_json_body_nesting_limit():
    deep = b'{"a":' + b"[" * 70 + b"]" * 70 + b"}"
    with pytest.raises(NestingTooDeepError):
        parse_json_body(deep)
    check_depth({"a": [[1]]}, 3)


def test_merge_top_level_replacement():
    assert merge({"a": {"x": 1}, "b": 1}, {"a": {"y": 2}}) == {"a": {"y": 2}, "b": 1}
    only = {"a": 1}
    assert merge(only) is only


_KEY = st.text(alphabet="abcXYZ_019", min_size=1, max_size=5)
_VALUE = st.text(max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEY, st.one_of(_VALUE, st.lists(_VALUE, max_size=3)), max_size=5))
def test_parse_query_round_trips_php_encoding(data):
    from urllib.parse import quote

    parts = []
    for key, value in data.items():
        if isinstance(value, list):
            parts += [f"{quote(key)}%5B%5D={quote(v)}" for v in value]
        else:
            parts.append(f"{quote(key)}={quote(value)}")
    expected = {k: v for k, v in data.items() if v != []}
    assert parse_query("&".join(parts)) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parse_query_never_raises_on_junk(text):
    with contextlib.suppress(NestingTooDeepError):
        parse_query(text)
