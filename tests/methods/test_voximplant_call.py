"""voximplant.callback.start, .infocall.startwithtext/.startwithsound, .tts.voices.get and
.url.get through the wire, on every backend: the results, the calls they leave, every
documented error, and bad-input tables (never a 500, nothing stored)."""

from __future__ import annotations

import re

import pytest

from tests.services.conftest import Recorder, calls_of

CLOUD = {"TYPE": "cloud", "SERVER": "sip.example.com", "LOGIN": "u1", "PASSWORD": "p1"}


def error(response, status, code, description=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    if description is not None:
        assert body["error_description"] == description, body
    assert "result" not in body
    return body


@pytest.fixture
def recorder(env):
    recording = Recorder()
    calls_of(env).events = recording
    return recording


@pytest.fixture
def line(env):
    return f"reg{env.add_line(**CLOUD)['REG_ID']}"


def nothing_stored(env, recorder):
    assert recorder.raised == []
    assert env.app.services.simulator.pending() == []


def test_callback_start_places_a_callback(env, line, recorder):
    body = {"FROM_LINE": line, "TO_NUMBER": "+7 978 000-00-01", "TEXT_TO_PRONOUNCE": "Hi"}
    result = env.ok("voximplant.callback.start", {**body, "VOICE": "ruinternalfemale"})["result"]
    assert result["RESULT"] is True
    assert re.fullmatch(r"callback\.[0-9a-f]{32}\.\d+", result["CALL_ID"])
    (init,) = recorder.raised
    assert init.data == {
        "CALL_ID": result["CALL_ID"],
        "CALL_TYPE": "4",
        "ACCOUNT_SEARCH_ID": line,
        "PHONE_NUMBER": "+79780000001",
        "CALLER_ID": line,
    }
    env.run(env.app.services.simulator.advance, 12)  # the default: answered at 2 s, 10 s long
    (row,) = env.ok("voximplant.statistic.get")["result"]
    assert (row["CALL_ID"], row["CALL_DURATION"], row["CALL_TYPE"]) == (
        result["CALL_ID"],
        "10",
        "4",
    )


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("voximplant.infocall.startwithtext", {"TEXT_TO_PRONOUNCE": "test message"}),
        ("voximplant.infocall.startwithsound", {"URL": "https://example.com/record.mp3"}),
    ],
)
def test_infocall_places_an_info_call(env, line, recorder, method, extra):
    result = env.ok(method, {"FROM_LINE": line, "TO_NUMBER": "9780000001", **extra})["result"]
    assert result["RESULT"] is True
    assert re.fullmatch(r"infocall\.[0-9a-f]{32}\.\d+", result["CALL_ID"])
    assert recorder.raised[0].data["CALL_TYPE"] == "5"


def test_tts_voices_get_is_the_documented_list(env):
    voices = env.ok("voximplant.tts.voices.get")["result"]
    assert len(voices) == 42
    assert voices["usenglishfemale"] == "American English (Female) (Default)"
    assert next(iter(voices)) == "auenglishfemale"


def test_url_get_links_at_the_address_called(env):
    assert env.ok("voximplant.url.get")["result"] == {
        "detail_statistics": "http://testserver/telephony/detail.php",
        "buy_connector": "http://testserver/settings/license_phone_sip.php",
        "edit_config": "http://testserver/telephony/edit.php?ID=#CONFIG_ID#",
        "lines": "http://testserver/telephony/lines.php",
    }


def test_any_user_may_start_built_in_calls(env, line):
    hook = env.webhook(env.user("plain"))
    body = {"FROM_LINE": line, "TO_NUMBER": "79780000001", "TEXT_TO_PRONOUNCE": "x"}
    assert env.ok("voximplant.callback.start", body, hook=hook)["result"]["RESULT"] is True
    assert env.ok("voximplant.url.get", hook=hook)["result"]["lines"].endswith("/lines.php")


# -- documented errors and bad input --------------------------------------------------

BAD_CALLBACK = [
    ({"FROM_LINE": "reg000000"}, "Could not find line reg000000"),
    ({"FROM_LINE": None}, "Could not find line "),
    ({"FROM_LINE": "LINK_BASE_NUMBER"}, "Could not find line LINK_BASE_NUMBER"),
    ({"from_line": "LINE"}, "Could not find line "),
    ({"TO_NUMBER": "12"}, "Phone number is not correct"),
    ({"TO_NUMBER": ""}, "Phone number is not correct"),
    ({"TO_NUMBER": None}, "Phone number is not correct"),
    ({"TO_NUMBER": "+7abc0000001"}, "Phone number is not correct"),
    ({"TO_NUMBER": "1" * 21}, "Phone number is not correct"),
    ({"TO_NUMBER": "١٢٣٤٥٦"}, "Phone number is not correct"),
]


def _body(line, change):
    body = {"FROM_LINE": line, "TO_NUMBER": "79780000001", "TEXT_TO_PRONOUNCE": "x"}
    body.update({k: (line if v == "LINE" else v) for k, v in change.items()})
    if "from_line" in change:
        del body["FROM_LINE"]
    return body


@pytest.mark.parametrize(("change", "text"), BAD_CALLBACK)
def test_callback_start_errors(env, line, recorder, change, text):
    error(env.call("voximplant.callback.start", _body(line, change)), 400, "ERROR_CORE", text)
    nothing_stored(env, recorder)


BAD_INFOCALL = [
    ({"FROM_LINE": "reg000000"}, "Could not find config for number reg000000"),
    ({"FROM_LINE": "LINK_BASE_NUMBER"}, "Making infocall using LINK_BASE_NUMBER is not allowed"),
    ({"TO_NUMBER": "abc"}, "Phone number is not correct"),
]


@pytest.mark.parametrize(("change", "text"), BAD_INFOCALL)
@pytest.mark.parametrize("method", ["startwithtext", "startwithsound"])
def test_infocall_errors(env, line, recorder, method, change, text):
    body = {**_body(line, change), "URL": "https://example.com/a.mp3"}
    error(env.call(f"voximplant.infocall.{method}", body), 400, "ERROR_CORE", text)
    nothing_stored(env, recorder)


@pytest.mark.parametrize("url", [None, "", "ftp://x/a.mp3", "https://", "javascript:x"])
def test_infocall_with_sound_needs_a_url(env, line, recorder, url):
    body = {"FROM_LINE": line, "TO_NUMBER": "79780000001", "URL": url}
    error(
        env.call("voximplant.infocall.startwithsound", body), 400, "ERROR_CORE", "Infocall failure"
    )
    nothing_stored(env, recorder)


@pytest.mark.parametrize("name", ["FROM_LINE", "TO_NUMBER", "TEXT_TO_PRONOUNCE", "VOICE"])
def test_array_parameters_are_refused(env, line, recorder, name):
    body = {**_body(line, {}), name: ["x"]}
    body_error = error(env.call("voximplant.callback.start", body), 400, "ERROR_ARGUMENT")
    assert body_error["argument"] == name
    nothing_stored(env, recorder)


@pytest.mark.parametrize(
    "method",
    [
        "call.followup.list",
        "call.followup.get",
        "call.followup.field.list",
        "call.followup.field.get",
    ],
)
def test_followup_is_a_rest3_method_not_found_on_the_classic_path(env, method):
    """docs/builtin-telephony.md: REST 3.0 only and about video calls; the documented answer
    for a REST-3.0-only method on /rest/ is 404 ERROR_METHOD_NOT_FOUND."""
    for path in (env.hook + method, f"/rest/api/1/{env.code}/{method}"):
        response = env.client.post(path, json={"filter": {}, "callId": 1})
        error(response, 404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
