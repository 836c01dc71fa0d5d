"""fast-bitrix24 1.8.14 against the live server, through its sync ``Bitrix`` wrapper.

It posts JSON to ``{webhook}{method}`` (lower-cased, no ``.json``), wraps ``call()``
in batches with ``__order`` and a trailing ``&``, and pages ``get_all`` by ``total``
with parallel batches (``clients.md`` §2). Its client throttle allows a burst of
50 requests, so these tests stay well below that (about ten requests in all).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fast_bitrix24 import Bitrix
from fast_bitrix24.server_response import ErrorInServerResponseException

if TYPE_CHECKING:
    from conftest import Hook  # tests/compat/conftest.py

pytestmark = pytest.mark.compat


@pytest.fixture
def bitrix(hook: Hook) -> Iterator[Bitrix]:
    yield Bitrix(hook.url, verbose=False)
    # The sync wrapper runs on asyncio.get_event_loop(), which makes a loop it never
    # closes; close it here so its sockets are not reported in a later test.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # no loop was left behind (later calls use asyncio.run)
        return
    loop.close()
    asyncio.set_event_loop(None)


def test_call_raw_returns_the_envelope_with_total(bitrix: Bitrix, hook: Hook) -> None:
    first, _, third = hook.add_lines(3, prefix="raw")

    reply = bitrix.call(
        "voximplant.sip.get",
        {"FILTER": {"CONFIG_ID": [first, third]}, "SORT": "CONFIG_ID", "ORDER": "ASC"},
        raw=True,
    )

    assert [row["CONFIG_ID"] for row in reply["result"]] == [str(first), str(third)]
    assert reply["total"] == 2
    assert "next" not in reply
    assert {"start", "finish", "duration", "date_start", "date_finish"} <= set(reply["time"])


def test_get_all_returns_all_120_lines_without_a_warning(bitrix: Bitrix, hook: Hook) -> None:
    seeded = hook.add_lines(120, prefix="fast")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = bitrix.get_all("voximplant.sip.get", {"SORT": "CONFIG_ID"})

    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    ids = [int(row["CONFIG_ID"]) for row in rows]
    assert len(ids) == 120
    assert sorted(ids) == sorted(seeded)


def test_call_with_a_list_of_updates_returns_truthy_results(bitrix: Bitrix, hook: Hook) -> None:
    first, second = hook.add_lines(2, prefix="upd")

    results = bitrix.call(
        "voximplant.sip.update",
        [{"CONFIG_ID": first, "TITLE": "First"}, {"CONFIG_ID": second, "TITLE": "Second"}],
    )

    assert len(results) == 2 and all(results)
    rows = hook.call("voximplant.sip.get", {"SORT": "CONFIG_ID", "ORDER": "ASC"})["result"]
    assert [row["TITLE"] for row in rows] == ["First", "Second"]


def test_call_batch_with_a_failing_command_raises(bitrix: Bitrix, hook: Hook) -> None:
    (config_id,) = hook.add_lines(1, prefix="batch")

    with pytest.raises(ErrorInServerResponseException) as caught:
        bitrix.call_batch(
            {
                "halt": 0,
                "cmd": {
                    "good": f"voximplant.sip.get?FILTER[CONFIG_ID]={config_id}",
                    "bad": "voximplant.sip.nosuchmethod",
                },
            }
        )

    assert "ERROR_METHOD_NOT_FOUND" in str(caught.value)
