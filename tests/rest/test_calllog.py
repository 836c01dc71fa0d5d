"""The call log: an access line per REST call, batch commands counted in their batch, and
a note when a real Bitrix24 method is not emulated; never a secret."""

from __future__ import annotations

import logging
import re

import pytest

from tests.conftest import Env
from trunkline.rest.calllog import CallLog, bitrix24_methods
from trunkline.rest.record import CallRecord

ACCESS = re.compile(
    r"portal=(?P<portal>\S+) caller=(?P<caller>\S+) user=(?P<user>\S+) method=(?P<method>\S+)"
    r" status=(?P<status>\d+) error=(?P<error>\S+) ms=\d+\.\d( commands=(?P<n>\d+)"
    r" failed=(?P<failed>\d+))?"
)


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str | None]]:
    found = []
    for record in caplog.records:
        if record.name == "trunkline.access":
            match = ACCESS.fullmatch(record.getMessage())
            assert match, record.getMessage()
            found.append(match.groupdict())
    return found


def notes(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "trunkline.rest"]


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="trunkline")
    return caplog


def test_access_line_names_portal_webhook_user_method_status(sqlite_env: Env, logged) -> None:
    sqlite_env.ok("voximplant.sip.get")
    (line,) = access_lines(logged)
    webhook = sqlite_env.run(sqlite_env.accounts.webhooks, sqlite_env.portal)[0]
    assert line == {
        "portal": "test.bitrix24.com",
        "caller": f"webhook:{webhook.id}",
        "user": "1",
        "method": "voximplant.sip.get",
        "status": "200",
        "error": "-",
        "n": None,
        "failed": None,
    }


def test_access_line_of_a_refused_call_has_the_host_and_no_caller(sqlite_env: Env, logged):
    response = sqlite_env.client.post("/rest/1/wrongcode/voximplant.sip.get")
    assert response.status_code == 401
    (line,) = access_lines(logged)
    assert (line["portal"], line["caller"], line["user"]) == ("testserver", "-", "-")
    assert (line["status"], line["error"]) == ("401", response.json()["error"])


def test_batch_is_one_line_that_counts_its_commands(sqlite_env: Env, logged) -> None:
    body = {"cmd": {"a": "voximplant.sip.get", "b": "voximplant.sip.status?REG_ID=1", "c": "x"}}
    sqlite_env.ok("batch", body)
    (line,) = access_lines(logged)
    assert (line["method"], line["status"], line["n"], line["failed"]) == ("batch", "200", "3", "2")
    sqlite_env.ok("voximplant.sip.get")  # the count does not leak into the next call
    assert access_lines(logged)[1]["n"] is None


def test_real_method_not_emulated_is_a_warning_and_the_wire_stays_faithful(
    sqlite_env: Env, logged
) -> None:
    for name in ("call.followup.list", "crm.deal.list", "crm.lead.list"):
        response = sqlite_env.call(name)
        assert response.status_code == 404
        assert response.json() == {
            "error": "ERROR_METHOD_NOT_FOUND",
            "error_description": "Method not found!",
        }
    assert notes(logged) == [
        (
            logging.WARNING,
            f"{name} is a Bitrix24 method not emulated by Trunkline yet (answered "
            "ERROR_METHOD_NOT_FOUND, as a portal without it would)",
        )
        for name in ("call.followup.list", "crm.deal.list", "crm.lead.list")
    ]


def test_a_typo_is_not_called_a_bitrix24_method(sqlite_env: Env, logged) -> None:
    sqlite_env.call("voximplant.sip.gett")
    sqlite_env.call("zzz.qqq")
    assert notes(logged) == [
        (logging.INFO, "voximplant.sip.gett is not a Bitrix24 method (did you mean "
         "voximplant.sip.get?)"),
        (logging.INFO, "zzz.qqq is not a Bitrix24 method"),
    ]  # fmt: skip


def test_not_emulated_inside_batch_is_noted(sqlite_env: Env, logged) -> None:
    sqlite_env.ok("batch", {"cmd": {"a": "crm.lead.list"}})
    assert [level for level, _ in notes(logged)] == [logging.WARNING]


def test_access_log_off_keeps_the_not_emulated_note(logged) -> None:
    quiet = CallLog(["voximplant.sip.get"], access=False)
    quiet(CallRecord("crm.lead.list", {}, None, "h", 404, "ERROR_METHOD_NOT_FOUND", 0.001))
    quiet(CallRecord("voximplant.sip.get", {}, None, "h", 200, None, 0.001))
    quiet(CallRecord("voximplant.sip.get", {}, None, "h", 200, None, 0.001, batch=True))
    assert access_lines(logged) == []
    assert len(notes(logged)) == 1


def test_odd_method_names_and_hosts_stay_on_one_line(logged) -> None:
    log = CallLog(["voximplant.sip.get"])
    odd = "a b\nc\x00" + "x" * 300
    log(CallRecord(odd, {}, None, "evil\nhost:80", 404, "ERROR_METHOD_NOT_FOUND", 0.0))
    messages = [r.getMessage() for r in logged.records]
    assert messages and all("\n" not in m and "\x00" not in m for m in messages)
    assert all(len(m) < 400 for m in messages)
    (line,) = access_lines(logged)
    assert line["portal"] == "evil\\nhost"


def test_secrets_never_reach_the_log(sqlite_env: Env, logged) -> None:
    code = sqlite_env.code
    added = sqlite_env.add_line(TYPE="cloud", SERVER="sip.example", LOGIN="u", PASSWORD="Pw-9xq")
    sqlite_env.ok("voximplant.sip.update", {"CONFIG_ID": added["CONFIG_ID"], "PASSWORD": "Qz-7k"})
    sqlite_env.call("voximplant.sip.get", {"auth": "tok-4zz"}, hook="/rest/")
    sqlite_env.client.get(f"/rest/1/{code}/crm.lead.list?secret=Hid-3n")
    text = "\n".join(r.getMessage() for r in logged.records)
    assert text and access_lines(logged)
    for secret in (code, "Pw-9xq", "Qz-7k", "tok-4zz", "Hid-3n"):
        assert secret not in text


def test_the_method_list_comes_from_the_documentation() -> None:
    known = bitrix24_methods()
    assert len(known) > 1000
    assert known["telephony.externalcall.register"] == "telephony.externalCall.register"
    assert {"voximplant.sip.add", "user.get", "crm.lead.list"} <= set(known)
    assert all(name == name.strip() and "." in name for name in known.values())
