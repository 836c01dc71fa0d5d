"""Replays of the requests real clients send (``clients.md`` §9 D), byte for byte.

CRest, pybitrix24, bitrix24-rest, b24phpsdk and b24jssdk cannot run here, so their
captured shapes are sent with ``httpx`` exactly as recorded and each answer is
compared with the same call made as plain JSON (``result``, ``total``, ``next``;
never ``time``, which differs per call). Every success must carry the full
``time`` block with integer ``total``/``next`` (§9 E), and no answer may ever be
a redirect: b24pysdk treats a 3xx as "portal moved".

The module works in a portal of its own, made with the CLI, so CONFIG_IDs are
1..60 and the captured ``3``, ``7``, ``9`` exist: 1..10 are cloud lines,
11..60 office lines. No test here writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import Hook  # tests/compat/conftest.py

pytestmark = pytest.mark.compat

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
JSSDK_QUERY = (
    "bx24_request_id=19b1ba24-e64f-7671-a8d0-7f14563fbaf7"
    "&bx24_sdk_ver=2.2.0&bx24_sdk_type=b24-js-sdk"
)
# The time block every success carries (rest-protocol.md §4.2).
TIME_KEYS = {
    "start",
    "finish",
    "duration",
    "processing",
    "date_start",
    "date_finish",
    "operating_reset_at",
    "operating",
}
SIP_GET_3_7_9 = {"FILTER": {"CONFIG_ID": [3, 7, 9]}, "SORT": "CONFIG_ID", "ORDER": "ASC"}


def refuse_redirects(response: httpx.Response) -> None:
    assert not response.is_redirect and not 300 <= response.status_code < 400, (
        f"{response.request.method} {response.request.url} answered {response.status_code} "
        f"Location: {response.headers.get('location')}"
    )


@pytest.fixture(scope="module")
def wire() -> Iterator[httpx.Client]:
    """An HTTP client that fails any request answered with a 3xx."""
    with httpx.Client(
        timeout=10, follow_redirects=False, event_hooks={"response": [refuse_redirects]}
    ) as client:
        yield client


@pytest.fixture(scope="module")
def portal(new_portal: Callable[[str], Hook]) -> Hook:
    hook = new_portal("replay.bitrix24.test")
    assert hook.add_lines(10, type="cloud", prefix="cloud") == list(range(1, 11))
    assert hook.add_lines(50, prefix="office") == list(range(11, 61))
    return hook


def envelope(response: httpx.Response) -> dict[str, Any]:
    """A success reply's ``result``/``total``/``next``, after checking the envelope."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body["time"]) >= TIME_KEYS
    for key in ("total", "next"):
        if key in body:
            assert type(body[key]) is int, body[key]
    return {key: body[key] for key in ("result", "total", "next") if key in body}


def batch_parts(response: httpx.Response) -> dict[str, Any]:
    result = envelope(response)["result"]
    assert "result_time" in result
    return {key: result[key] for key in ("result", "result_error", "result_total", "result_next")}


@pytest.fixture
def as_json(portal: Hook, wire: httpx.Client) -> Callable[..., dict[str, Any]]:
    """The reference: the same call POSTed as JSON to ``{hook}{method}.json``."""

    def call(params: dict[str, Any], method: str = "voximplant.sip.get") -> dict[str, Any]:
        return envelope(wire.post(f"{portal.url}{method}.json", json=params))

    return call


def config_ids(reply: dict[str, Any]) -> list[str]:
    return [row["CONFIG_ID"] for row in reply["result"]]


# -- CRest (form encoding, GET without a body, double-encoded batch) -------------


def test_crest_form_post_matches_json(portal: Hook, wire: httpx.Client, as_json: Any) -> None:
    body = (
        b"FILTER%5BCONFIG_ID%5D%5B0%5D=3&FILTER%5BCONFIG_ID%5D%5B1%5D=7"
        b"&FILTER%5BCONFIG_ID%5D%5B2%5D=9&SORT=CONFIG_ID&ORDER=ASC"
    )

    reply = envelope(
        wire.post(
            f"{portal.url}voximplant.sip.get.json",
            content=body,
            headers={**FORM, "User-Agent": "Bitrix24 CRest PHP 1.36", "Accept": "*/*"},
        )
    )

    assert reply == as_json(SIP_GET_3_7_9)
    assert config_ids(reply) == ["3", "7", "9"]


def test_crest_get_without_body_matches_json(
    portal: Hook, wire: httpx.Client, as_json: Any
) -> None:
    response = wire.get(f"{portal.url}voximplant.sip.get.json")

    assert response.request.content == b""
    assert "content-type" not in response.request.headers
    reply = envelope(response)
    assert reply == as_json({})
    assert (len(reply["result"]), reply["total"], reply["next"]) == (50, 60, 50)


def test_crest_double_encoded_form_batch_matches_json(
    portal: Hook, wire: httpx.Client, as_json: Any
) -> None:
    body = (
        b"cmd%5Ba%5D=voximplant.sip.get%3FFILTER%255BCONFIG_ID%255D%255B0%255D%3D3"
        b"%26FILTER%255BCONFIG_ID%255D%255B1%255D%3D7"
        b"&cmd%5Bb%5D=voximplant.sip.status%3FREG_ID%3D103&halt=1"
    )
    same_as_json = {
        "cmd": {
            "a": "voximplant.sip.get?FILTER[CONFIG_ID][0]=3&FILTER[CONFIG_ID][1]=7",
            "b": "voximplant.sip.status?REG_ID=103",
        },
        "halt": 1,
    }

    replayed = batch_parts(wire.post(f"{portal.url}batch.json", content=body, headers=FORM))

    assert replayed == batch_parts(wire.post(f"{portal.url}batch.json", json=same_as_json))
    single = as_json({"FILTER": {"CONFIG_ID": [3, 7]}})
    assert replayed["result"]["a"] == single["result"]
    assert replayed["result_total"]["a"] == single["total"] == 2
    assert "b" in replayed["result"] or "b" in replayed["result_error"]


# -- pybitrix24 ([] append arrays inside a JSON batch command) --------------------


def test_pybitrix24_append_arrays_in_json_batch_match_json(
    portal: Hook, wire: httpx.Client, as_json: Any
) -> None:
    body = json.dumps(
        {
            "cmd": {
                "a": "voximplant.sip.get"
                "?FILTER%5BCONFIG_ID%5D%5B%5D=3&FILTER%5BCONFIG_ID%5D%5B%5D=7"
            },
            "halt": True,
        }
    )

    replayed = batch_parts(wire.post(f"{portal.url}batch.json", content=body, headers=JSON))

    single = as_json({"FILTER": {"CONFIG_ID": [3, 7]}})
    assert replayed["result"] == {"a": single["result"]}
    assert replayed["result_total"] == {"a": single["total"]}
    assert replayed["result_error"] == [] and replayed["result_next"] == []
    assert config_ids(single) == ["3", "7"]


# -- bitrix24-rest (GET with everything in the query, start=0 and a trailing &) ---


@pytest.mark.parametrize(
    ("query", "params"),
    [
        (
            "FILTER%5BCONFIG_ID%5D%5B0%5D=3&FILTER%5BCONFIG_ID%5D%5B1%5D=7"
            "&FILTER%5BCONFIG_ID%5D%5B2%5D=9&SORT=CONFIG_ID&ORDER=ASC&start=0&",
            {**SIP_GET_3_7_9, "start": 0},
        ),
        ("SORT=CONFIG_ID&ORDER=DESC&start=0&", {"SORT": "CONFIG_ID", "ORDER": "DESC", "start": 0}),
        (
            "SORT=CONFIG_ID&ORDER=DESC&start=50&",
            {"SORT": "CONFIG_ID", "ORDER": "DESC", "start": 50},
        ),
    ],
    ids=["filtered", "first-page", "second-page"],
)
def test_bitrix24_rest_get_with_query_matches_json(
    portal: Hook, wire: httpx.Client, as_json: Any, query: str, params: dict[str, Any]
) -> None:
    response = wire.get(f"{portal.url}voximplant.sip.get.json?{query}")

    assert response.request.url.raw_path.endswith(query.encode())
    assert envelope(response) == as_json(params)


# -- b24phpsdk (trailing slash, no .json, bx24_request_id) ------------------------


def test_b24phpsdk_trailing_slash_path_matches_json(
    portal: Hook, wire: httpx.Client, as_json: Any
) -> None:
    response = wire.post(
        f"{portal.url}voximplant.sip.get/?bx24_request_id=7b1e0c2a9d5f4e3b",
        content=json.dumps(SIP_GET_3_7_9),
        headers={**JSON, "X-BITRIX24-PHP-SDK-VERSION": "1.9.0"},
    )

    assert envelope(response) == as_json(SIP_GET_3_7_9)


# -- b24jssdk (array cmd with a bare "?", double slashes, telemetry query) ---------


def test_b24jssdk_array_batch_with_bare_question_mark(
    portal: Hook, wire: httpx.Client, as_json: Any
) -> None:
    body = json.dumps(
        {
            "halt": 0,
            "cmd": ["voximplant.sip.get?FILTER%5BCONFIG_ID%5D%5B0%5D=3", "voximplant.sip.get?"],
        }
    )

    replayed = batch_parts(
        wire.post(
            f"{portal.url}batch?{JSSDK_QUERY}",
            content=body,
            headers={**JSON, "User-Agent": "b24-js-sdk/2.2.0"},
        )
    )

    only_3, everything = as_json({"FILTER": {"CONFIG_ID": [3]}}), as_json({})
    assert replayed["result"] == [only_3["result"], everything["result"]]
    assert replayed["result_error"] == []
    assert replayed["result_total"] == [only_3["total"], everything["total"]] == [1, 60]
    assert replayed["result_next"] == {"1": everything["next"]}


def test_b24jssdk_double_slash_path_matches_json(
    portal: Hook, wire: httpx.Client, as_json: Any
) -> None:
    base, _, tail = portal.url.partition("/rest/")
    response = wire.post(
        f"{base}/rest//{tail}voximplant.sip.get?{JSSDK_QUERY}",
        content=json.dumps(SIP_GET_3_7_9, separators=(",", ":")),
        headers=JSON,
    )

    assert response.request.url.raw_path.startswith(b"/rest//")
    assert envelope(response) == as_json(SIP_GET_3_7_9)


# -- fast-bitrix24 (__order, trailing &, lower-cased path without .json) ------------


def test_fast_bitrix24_order_param_and_trailing_ampersand_match_json(
    portal: Hook, wire: httpx.Client, as_json: Any
) -> None:
    body = {
        "halt": 0,
        "cmd": {
            "order0000000000": "voximplant.sip.get?__order=order0000000000"
            "&FILTER[CONFIG_ID][0]=3&FILTER[CONFIG_ID][1]=7&FILTER[CONFIG_ID][2]=9"
            "&SORT=CONFIG_ID&ORDER=ASC&"
        },
    }

    replayed = batch_parts(wire.post(f"{portal.url}batch", json=body))

    single = as_json(SIP_GET_3_7_9)
    assert replayed["result"] == {"order0000000000": single["result"]}
    assert replayed["result_total"] == {"order0000000000": 3}
    assert replayed["result_error"] == []


def test_fast_bitrix24_get_all_pages_match_json(
    portal: Hook, wire: httpx.Client, as_json: Any
) -> None:
    first = envelope(
        wire.post(
            f"{portal.url}voximplant.sip.get", json={"SORT": "CONFIG_ID", "order": {"ID": "ASC"}}
        )
    )
    rest = batch_parts(
        wire.post(
            f"{portal.url}batch",
            json={
                "halt": 0,
                "cmd": {
                    "cmd0000000000": "voximplant.sip.get?SORT=CONFIG_ID&order[ID]=ASC&start=50&"
                },
            },
        )
    )

    assert first == as_json({"SORT": "CONFIG_ID"})
    assert rest["result"] == {
        "cmd0000000000": as_json({"SORT": "CONFIG_ID", "start": 50})["result"]
    }
    assert rest["result_error"] == []
    ids = config_ids(first) + [row["CONFIG_ID"] for row in rest["result"]["cmd0000000000"]]
    assert ids == [str(n) for n in range(1, 61)]


@pytest.mark.parametrize(
    "params",
    [
        {"order": {"ID": "ASC"}},
        {"SORT": "CONFIG_ID", "order": {"ID": "ASC"}},
        {"SORT": "CONFIG_ID", "ORDER": {"ID": "ASC"}},
        {"SORT": "CONFIG_ID", "ORDER": ["ASC"]},
        {"SORT": "CONFIG_ID", "ORDER": 1},
        {"FILTER": {"CONFIG_ID": [3, 7, 9]}, "order": {"ID": "ASC"}},
    ],
    ids=["order-only", "lower-order", "upper-order-object", "order-list", "order-int", "filtered"],
)
def test_non_string_order_never_fails(
    portal: Hook, wire: httpx.Client, as_json: Any, params: dict[str, Any]
) -> None:
    without_order = {k: v for k, v in params.items() if k.upper() != "ORDER"}

    reply = envelope(wire.post(f"{portal.url}voximplant.sip.get", json=params))

    assert reply == as_json(without_order)


# -- routing variants: one handler, never a redirect -------------------------------


@pytest.mark.parametrize(
    "method_path",
    [
        "voximplant.sip.get",
        "voximplant.sip.get/",
        "voximplant.sip.get.json/",
        "VOXIMPLANT.SIP.GET.json",
        "Voximplant.Sip.Get/?bx24_request_id=1&bx24_sdk_ver=2.2.0",
    ],
)
def test_route_variants_answer_like_the_json_call(
    portal: Hook, wire: httpx.Client, as_json: Any, method_path: str
) -> None:
    reply = envelope(wire.post(f"{portal.url}{method_path}", json=SIP_GET_3_7_9))

    assert reply == as_json(SIP_GET_3_7_9)
