"""The voximplant line, user, url, TTS and info call tests of the official PHP SDK
(bitrix24/b24phpsdk, tests/Integration/Services/Telephony/Voximplant/), replayed in Python:
PHP cannot run them here (symfony 6/7 and carbon 3 are not in Debian 12 and Packagist is
out of reach). Each test names the PHP test it replays and makes the same calls and the
same assertions, reading results as the SDK's result classes read them."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest

from tests.auth.conftest import OAuth


def result(env, method, params=None):
    return env.ok(method, params or {})["result"]


def as_list(value):
    """The SDK's ``getResult()``: the decoded result, a scalar wrapped in a list."""
    return value if isinstance(value, list | dict) else [value]


# -- LineTest.php ------------------------------------------------------------------------


def test_LineTest_testOutgoingSipSet(env):
    """LineTest::testOutgoingSipSet: sip->add(cloud, ...), then
    line->outgoingSipSet(addedLine->ID)->isSuccess(), then sip->delete(ID)."""
    added = result(
        env,
        "voximplant.sip.add",
        {
            "TYPE": "cloud",
            "TITLE": f"test sip - {uuid.uuid4()}",
            "SERVER": "supersip.io",
            "LOGIN": str(uuid.uuid4()),
            "PASSWORD": str(uuid.uuid4()),
        },
    )
    outcome = result(env, "voximplant.line.outgoing.sip.set", {"CONFIG_ID": int(added["ID"])})
    assert bool(as_list(outcome)[0]) is True  # UserInterfaceDialogCallResult::isSuccess
    assert result(env, "voximplant.sip.delete", {"CONFIG_ID": int(added["ID"])}) == 1


def test_LineTest_testGet(env):
    """LineTest::testGet: count(line->get()->getLines()) >= 0 (LINE_ID => NUMBER pairs)."""
    env.add_line()
    lines = result(env, "voximplant.line.get")
    items = [{"LINE_ID": k, "NUMBER": v} for k, v in (lines or {}).items()]
    assert len(items) >= 0
    assert all(item["LINE_ID"] and item["NUMBER"] for item in items)


def test_LineTest_testOutgoingGet(env):
    """LineTest::testOutgoingGet: assertNotEmpty(outgoingGet()->getLineId()->LINE_ID)."""
    line_id = as_list(result(env, "voximplant.line.outgoing.get"))[0]
    assert line_id  # LINK_BASE_NUMBER on a portal that never set one


def test_LineTest_testOutgoingSet(env):
    """LineTest::testOutgoingSet: outgoingSet('1')->isSuccess()."""
    assert bool(as_list(result(env, "voximplant.line.outgoing.set", {"LINE_ID": "1"}))[0])


# -- UserTest.php (application context: the PHP tests skip under a webhook) -----------------


@pytest.fixture
def app_token(oauth: OAuth) -> str:
    _, auth = oauth.app_tokens()
    return str(auth["access_token"])


def current_user_id(oauth: OAuth, token: str) -> int:
    """getMainScope()->main()->getCurrentUserProfile()->getUserProfile()->ID."""
    return int(oauth.ok("profile", token)["ID"])


def test_UserTest_testDeactivatePhone(oauth, app_token):
    """UserTest::testDeactivatePhone: user->deactivatePhone(currentUserId)->isSuccess()."""
    user_id = current_user_id(oauth, app_token)
    outcome = oauth.ok("voximplant.user.deactivatePhone", app_token, {"USER_ID": user_id})
    assert bool(as_list(outcome)[0]) is True


def test_UserTest_testActivatePhone(oauth, app_token):
    """UserTest::testActivatePhone: user->activatePhone(currentUserId)->isSuccess()."""
    user_id = current_user_id(oauth, app_token)
    outcome = oauth.ok("voximplant.user.activatePhone", app_token, {"USER_ID": user_id})
    assert bool(as_list(outcome)[0]) is True


def test_UserTest_testGet(oauth, app_token):
    """UserTest::testGet: count(user->get([currentUserId, 2, 3])->getUsers()) >= 1; the item
    reads ID as int and PHONE_ENABLED as bool."""
    user_id = current_user_id(oauth, app_token)
    users = oauth.ok("voximplant.user.get", app_token, {"USER_ID": [user_id, 2, 3]})
    assert len(users) >= 1
    (mine,) = [u for u in users if int(u["ID"]) == user_id]
    assert bool(mine["PHONE_ENABLED"]) is False  # never activated: null
    assert mine["SIP_LOGIN"] == f"phone{user_id}"


# -- UrlTest.php, VoicesTest.php ------------------------------------------------------------


def test_UrlTest_testDeactivatePhone(env):
    """UrlTest::testDeactivatePhone (sic): the host of url->get()->getPages()
    ->detail_statistics is the host of the credentials' domain URL."""
    pages = result(env, "voximplant.url.get")
    domain_url = str(env.client.base_url)
    assert urlsplit(pages["detail_statistics"]).hostname == urlsplit(domain_url).hostname


def test_VoicesTest_testGet(env):
    """VoicesTest::testGet: count(voices->get()->getVoices()) >= 1 (CODE => NAME pairs)."""
    voices = [{"CODE": k, "NAME": v} for k, v in result(env, "voximplant.tts.voices.get").items()]
    assert len(voices) >= 1


# -- InfoCallTest.php -------------------------------------------------------------------


def test_InfoCallTest_tesStartWithText(env):
    """InfoCallTest::tesStartWithText: with the first line of line->get(),
    infoCall->startWithText(LINE_ID, a national mobile number, 'test message')
    ->getCallResult()->RESULT is true."""
    env.add_line()
    line_id = next(iter(result(env, "voximplant.line.get")))
    body = {"FROM_LINE": line_id, "TO_NUMBER": "9161234567", "TEXT_TO_PRONOUNCE": "test message"}
    assert result(env, "voximplant.infocall.startwithtext", body)["RESULT"] is True


def test_InfoCallTest_tesStartWithSound(env):
    """InfoCallTest::tesStartWithSound: startWithSound(LINE_ID, a national mobile number,
    a record file URL)->getCallResult()->RESULT is true."""
    env.add_line()
    line_id = next(iter(result(env, "voximplant.line.get")))
    body = {
        "FROM_LINE": line_id,
        "TO_NUMBER": "9161234567",
        "URL": "https://github.com/bitrix24/b24phpsdk/raw/main/tests/Integration/"
        "Services/Telephony/call-record-test.mp3",
    }
    assert result(env, "voximplant.infocall.startwithsound", body)["RESULT"] is True
