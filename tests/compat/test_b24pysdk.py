"""b24pysdk 1.3.2 (the official Python SDK) against the live server, webhook auth.

The SDK hard-codes ``https://{domain}/rest``; the ``b24pysdk_plain_http`` fixture
applies the documented one-property patch (``clients.md`` §1) and undoes it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests
from b24pysdk import BitrixWebhook, Client, Config
from b24pysdk.errors import BitrixAPIBadRequest, BitrixAPIInvalidCredentials, BitrixAPINotFound

if TYPE_CHECKING:
    from conftest import Hook  # tests/compat/conftest.py

pytestmark = pytest.mark.compat

call_method = importlib.import_module("b24pysdk.api.callers.call_method")


@pytest.fixture
def b24pysdk_plain_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Plain http instead of https, and retry delays small enough for a test."""
    monkeypatch.setattr(
        call_method._MethodCaller,
        "_base_url",
        property(lambda self: f"http://{self._domain}/rest"),
    )
    config = Config()
    saved = (config.default_initial_retry_delay, config.default_retry_delay_increment)
    config.configure(default_initial_retry_delay=0.05, default_retry_delay_increment=0.05)
    yield
    config.configure(default_initial_retry_delay=saved[0], default_retry_delay_increment=saved[1])


@pytest.fixture
def webhook(hook: Hook, b24pysdk_plain_http: None) -> BitrixWebhook:
    return BitrixWebhook(domain=hook.domain, webhook_token=hook.token)


@pytest.fixture
def client(webhook: BitrixWebhook) -> Client:
    return Client(webhook)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every (url, json body) the SDK posts (it calls ``requests.post``)."""
    posts: list[tuple[str, Any]] = []
    real_post = requests.post

    def counting_post(*args: Any, **kwargs: Any) -> requests.Response:
        posts.append((kwargs["url"], kwargs.get("json")))
        return real_post(*args, **kwargs)

    monkeypatch.setattr(requests, "post", counting_post)
    return posts


def add_cloud(client: Client, title: str = "Cloud 1") -> dict[str, Any]:
    result: dict[str, Any] = client.voximplant.sip.add(
        type="cloud", title=title, server="sip.example.com", login="alice", password="pa55"
    ).response.result
    return result


def get_ids(client: Client, **kwargs: Any) -> list[int]:
    rows = client.voximplant.sip.get(**kwargs).response.result
    return [int(row["CONFIG_ID"]) for row in rows]


def test_add_cloud_returns_echoed_fields_and_integer_reg_id(client: Client) -> None:
    line = add_cloud(client)

    assert (line["TYPE"], line["TITLE"], line["SERVER"], line["LOGIN"], line["PASSWORD"]) == (
        "cloud",
        "Cloud 1",
        "sip.example.com",
        "alice",
        "pa55",
    )
    assert isinstance(line["ID"], str) and line["ID"].isdigit()
    assert isinstance(line["CONFIG_ID"], str) and line["CONFIG_ID"].isdigit()
    assert isinstance(line["REG_ID"], int) and not isinstance(line["REG_ID"], bool)
    assert line["REG_ID"] > 0
    assert "INCOMING_SERVER" not in line and "APP_ID" not in line


def test_get_with_filter_and_sort_returns_string_fields(client: Client) -> None:
    first, second, third = (add_cloud(client, f"Cloud {n}") for n in (1, 2, 3))
    wanted = [int(first["CONFIG_ID"]), int(third["CONFIG_ID"])]

    response = client.voximplant.sip.get(
        filter={"CONFIG_ID": wanted}, sort="CONFIG_ID", order="DESC"
    ).response

    assert [row["CONFIG_ID"] for row in response.result] == [third["CONFIG_ID"], first["CONFIG_ID"]]
    assert response.total == 2 and response.next is None
    row = response.result[0]
    assert row["REG_ID"] == str(third["REG_ID"])
    assert "ID" not in row and "APP_ID" not in row
    assert all(value is None or isinstance(value, str) for value in row.values())
    assert second["CONFIG_ID"] not in {r["CONFIG_ID"] for r in response.result}


def test_get_office_line_has_incoming_fields_and_no_reg_id(client: Client) -> None:
    added = client.voximplant.sip.add(
        type="office", title="Office", server="pbx.example.com", login="bob", password="pw"
    ).response.result

    (row,) = client.voximplant.sip.get(
        filter={"CONFIG_ID": int(added["CONFIG_ID"])}
    ).response.result

    assert "REG_ID" not in added and "REG_ID" not in row
    assert row["TYPE"] == "office"
    assert row["INCOMING_LOGIN"] == added["INCOMING_LOGIN"]
    assert isinstance(row["INCOMING_SERVER"], str) and isinstance(row["INCOMING_PASSWORD"], str)


def test_update_title_through_typed_api(client: Client) -> None:
    config_id = int(add_cloud(client)["CONFIG_ID"])

    result = client.voximplant.sip.update(config_id, title="Renamed").response.result

    assert result == 1 and not isinstance(result, bool)
    (row,) = client.voximplant.sip.get(filter={"CONFIG_ID": config_id}).response.result
    assert row["TITLE"] == "Renamed"


def test_update_credentials_through_call_method(client: Client, webhook: BitrixWebhook) -> None:
    config_id = int(add_cloud(client)["CONFIG_ID"])

    reply = webhook.call_method(
        "voximplant.sip.update",
        {"CONFIG_ID": config_id, "SERVER": "sip2.example.com", "LOGIN": "carol", "PASSWORD": "x"},
    )

    assert reply["result"] == 1
    (row,) = client.voximplant.sip.get(filter={"CONFIG_ID": config_id}).response.result
    assert (row["SERVER"], row["LOGIN"], row["PASSWORD"]) == ("sip2.example.com", "carol", "x")
    assert row["REGISTRATION_STATUS_CODE"] == "0"
    assert row["TITLE"] == "Cloud 1"


def test_delete_removes_the_line(client: Client) -> None:
    keep = int(add_cloud(client, "Keep")["CONFIG_ID"])
    gone = int(add_cloud(client, "Gone")["CONFIG_ID"])

    result = client.voximplant.sip.delete(gone).response.result

    assert result == 1
    assert get_ids(client, sort="CONFIG_ID", order="ASC") == [keep]


def test_get_without_lines_returns_empty_list_and_no_total(client: Client) -> None:
    response = client.voximplant.sip.get(sort="CONFIG_ID", order="ASC").response

    assert response.result == []
    assert response.total is None and response.next is None


def test_update_unknown_line_raises_not_found(client: Client) -> None:
    with pytest.raises(BitrixAPINotFound) as caught:
        _ = client.voximplant.sip.update(999999, title="Nobody").response

    assert caught.value.status_code == 404
    assert caught.value.error == "ERROR_NOT_FOUND"
    assert caught.value.error_description == "Specified CONFIG_ID is not found"


def test_delete_unknown_line_raises_bad_request(client: Client) -> None:
    with pytest.raises(BitrixAPIBadRequest) as caught:
        _ = client.voximplant.sip.delete(999999).response

    assert caught.value.status_code == 400
    assert caught.value.error == "ERROR_NOT_FOUND"


def test_as_list_reads_120_lines_with_one_call_and_one_batch(
    client: Client, hook: Hook, sent: list[tuple[str, Any]]
) -> None:
    seeded = hook.add_lines(120, prefix="pysdk")

    response = client.voximplant.sip.get(sort="CONFIG_ID", order="ASC").as_list().response

    ids = [int(row["CONFIG_ID"]) for row in response.result]
    assert ids == sorted(seeded)
    assert len(set(ids)) == 120
    assert [url.rsplit("/", 1)[1] for url, _ in sent] == ["voximplant.sip.get.json", "batch.json"]
    batch_body = sent[1][1]
    assert sorted(batch_body["cmd"].values()) == [
        "voximplant.sip.get?SORT=CONFIG_ID&ORDER=ASC&start=100",
        "voximplant.sip.get?SORT=CONFIG_ID&ORDER=ASC&start=50",
    ]


def test_call_batch_returns_the_failing_command_in_result_error(
    client: Client, webhook: BitrixWebhook
) -> None:
    config_id = int(add_cloud(client)["CONFIG_ID"])

    reply = webhook.call_batch(
        {
            "good": ("voximplant.sip.get", {"FILTER": {"CONFIG_ID": [config_id]}}),
            "bad": ("voximplant.sip.nosuchmethod", None),
        },
        halt=False,
    )

    batch = reply["result"]
    assert set(batch["result_error"]) == {"bad"}
    assert batch["result_error"]["bad"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert [row["CONFIG_ID"] for row in batch["result"]["good"]] == [str(config_id)]
    assert batch["result_total"]["good"] == 1


def test_unknown_method_raises_not_found(webhook: BitrixWebhook) -> None:
    with pytest.raises(BitrixAPINotFound) as caught:
        webhook.call_method("voximplant.sip.nosuchmethod")

    assert caught.value.status_code == 404
    assert caught.value.error == "ERROR_METHOD_NOT_FOUND"
    assert caught.value.error_description == "Method not found!"


def test_bad_webhook_code_raises_invalid_credentials(hook: Hook, b24pysdk_plain_http: None) -> None:
    user = hook.token.split("/")[0]
    wrong = Client(BitrixWebhook(domain=hook.domain, webhook_token=f"{user}/wrongcode0000000"))

    with pytest.raises(BitrixAPIInvalidCredentials) as caught:
        _ = wrong.voximplant.sip.get().response

    assert caught.value.status_code == 401
    assert caught.value.error == "INVALID_CREDENTIALS"
