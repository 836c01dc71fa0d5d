"""The external-line, external-call and call tests of the official PHP SDK
(bitrix24/b24phpsdk, tests/Integration/Services/Telephony/ExternalLine/, ExternalCall/,
Call/), replayed in Python: PHP cannot run them here (symfony 6/7 and carbon 3 are not in
Debian 12, and Packagist is out of reach). Each test names the PHP test it replays, makes
the same calls with the parameters the SDK's services send, through a webhook as the SDK's
integration suite does (``webhook_app_context=allow``, the default), and makes the same
assertions, reading results as the SDK's result classes read them."""

from __future__ import annotations

import base64
import random
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import Env

# Stands for tests/Integration/Services/Telephony/call-record-test.mp3: an ID3 tag and
# MPEG frames (the SDK's Base64Encoder::encodeCallRecord sends the file's base64).
CALL_RECORD = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 413
CALL_RECORD_NAME = "call-record-test.mp3"


@pytest.fixture
def hook(env: Env) -> str:
    """Fabric::getServiceBuilder(): a webhook with the scopes the suite uses."""
    return env.webhook(1, ["telephony", "user"])


def call(env: Env, hook: str, method: str, params: dict[str, Any] | None = None) -> Any:
    """core->call(): the decoded ``result`` (nulls dropped, as the SDK's transport does)."""
    body = {k: v for k, v in (params or {}).items() if v is not None}
    return env.ok(method, body, hook=hook)["result"]


def numbers(env: Env, hook: str) -> list[str]:
    """array_column(externalLine->get()->getExternalLines(), 'NUMBER')."""
    return [line["NUMBER"] for line in call(env, hook, "telephony.externalLine.get")]


def line_number() -> str:
    """time() . random_int(0, PHP_INT_MAX)."""
    return f"{int(time.time())}{random.randint(0, 2**63 - 1)}"


def add_line(env: Env, hook: str, number: str) -> Any:
    """ExternalLine::add($lineNumber, true, sprintf('line-name-%s', $lineNumber))."""
    return call(
        env,
        hook,
        "telephony.externalLine.add",
        {"NUMBER": number, "NAME": f"line-name-{number}", "CRM_AUTO_CREATE": "Y"},
    )


# -- ExternalLineTest.php -----------------------------------------------------------------


def test_ExternalLineTest_testExternalLineAdd(env, hook):
    """ExternalLineTest::testExternalLineAdd: ID > 0, and the number is in get()."""
    number = line_number()
    added = add_line(env, hook, number)
    assert added["ID"] > 0
    assert number in numbers(env, hook)


def test_ExternalLineTest_testGetExternalLine(env, hook):
    """ExternalLineTest::testGetExternalLine: count(get()) > 1. In the suite it runs after
    testExternalLineAdd and testDeleteExternalLine's add on the same portal; here the two
    lines those leave are added first."""
    add_line(env, hook, line_number())
    add_line(env, hook, line_number())
    assert len(call(env, hook, "telephony.externalLine.get")) > 1


def test_ExternalLineTest_testDeleteExternalLine(env, hook):
    """ExternalLineTest::testDeleteExternalLine: add, in get(); delete answers []; not in
    get() any more."""
    number = f"{int(time.time())}{random.randint(1000, 2**63 - 1)}"
    add_line(env, hook, number)
    assert number in numbers(env, hook)
    assert call(env, hook, "telephony.externalLine.delete", {"NUMBER": number}) == []
    assert number not in numbers(env, hook)


# -- ExternalCallTest.php and CallTest.php: the data provider ------------------------------


def current_user_id(env: Env, hook: str) -> int:
    """getMainScope()->main()->getCurrentUserProfile()->getUserProfile()->ID."""
    return int(call(env, hook, "profile")["ID"])


def register(env: Env, hook: str, phone: str) -> tuple[str, int]:
    """callIdDataProvider / testRegister: user()->update(ID, UF_PHONE_INNER '123'), then
    externalCall->register('123', ID, $phone, now, CallType::outbound, true, true, '3333',
    null, CrmEntityType::contact)."""
    user_id = current_user_id(env, hook)
    assert call(env, hook, "user.update", {"ID": user_id, "UF_PHONE_INNER": "123"}) is True
    registered = call(
        env,
        hook,
        "telephony.externalcall.register",
        {
            "USER_PHONE_INNER": "123",
            "USER_ID": user_id,
            "PHONE_NUMBER": phone,
            "CALL_START_DATE": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
            "CRM_CREATE": 1,
            "CRM_SOURCE": None,
            "CRM_ENTITY_TYPE": "CONTACT",
            "CRM_ENTITY_ID": None,
            "SHOW": 1,
            "CALL_LIST_ID": None,
            "LINE_NUMBER": "3333",
            "TYPE": 1,
        },
    )
    # ExternalCallRegisteredItemResult reads CRM_ENTITY_TYPE with CrmEntityType::from
    assert registered["CRM_ENTITY_TYPE"] in ("CONTACT", "COMPANY", "LEAD")
    for item in registered["CRM_CREATED_ENTITIES"]:
        assert int(item["ENTITY_ID"]) > 0 and item["ENTITY_TYPE"] in ("CONTACT", "COMPANY", "LEAD")
    return registered["CALL_ID"], user_id


def provided(env: Env, hook: str) -> tuple[str, int]:
    """callIdDataProvider: phone '7978' . random_int(1000000, 9999999)."""
    return register(env, hook, f"7978{random.randint(1000000, 9999999)}")


def finish_for_user_id(env: Env, hook: str, call_id: str, user_id: int, cost: str) -> Any:
    """externalCall->finishForUserId($callId, $userId, 100, Money(cost, USD),
    TelephonyCallStatusCode::successful, true)."""
    return call(
        env,
        hook,
        "telephony.externalcall.finish",
        {
            "CALL_ID": call_id,
            "USER_ID": user_id,
            "DURATION": 100,
            "COST": cost,
            "COST_CURRENCY": "USD",
            "STATUS_CODE": "200",
            "FAILED_REASON": None,
            "VOTE": None,
            "ADD_TO_CHAT": 1,
        },
    )


def attach_in_base64(env: Env, hook: str, call_id: str) -> Any:
    """externalCall->attachCallRecordInBase64($callId, $filename)."""
    return call(
        env,
        hook,
        "telephony.externalCall.attachRecord",
        {
            "CALL_ID": call_id,
            "FILENAME": f"{int(time.time())}-{CALL_RECORD_NAME}",
            "FILE_CONTENT": base64.b64encode(CALL_RECORD).decode(),
        },
    )


# -- ExternalCallTest.php -----------------------------------------------------------------


def test_ExternalCallTest_testRegister(env, hook):
    """ExternalCallTest::testRegister: assertNotEmpty(CALL_ID) (phone 79780000000)."""
    call_id, _ = register(env, hook, "79780000000")
    assert call_id


def test_ExternalCallTest_testShow(env, hook):
    """ExternalCallTest::testShow: show($callId, [$userId])->isSuccess()."""
    call_id, user_id = provided(env, hook)
    shown = call(
        env, hook, "telephony.externalcall.show", {"CALL_ID": call_id, "USER_ID": [user_id]}
    )
    assert shown is True


def test_ExternalCallTest_testHide(env, hook):
    """ExternalCallTest::testHide: hide($callId, [$userId])->isSuccess()."""
    call_id, user_id = provided(env, hook)
    hidden = call(
        env, hook, "telephony.externalcall.hide", {"CALL_ID": call_id, "USER_ID": [user_id]}
    )
    assert hidden is True


def test_ExternalCallTest_testFinishWithUserId(env, hook):
    """ExternalCallTest::testFinishWithUserId: COST equals Money(10000, USD) (the SDK parses
    (string)COST as USD with DecimalMoneyParser: 100 dollars) and CALL_DURATION == 100."""
    call_id, user_id = provided(env, hook)
    finished = finish_for_user_id(env, hook, call_id, user_id, "100.00")
    assert round(float(str(finished["COST"])) * 100) == 10000
    assert finished["COST_CURRENCY"] == "USD"
    assert finished["CALL_DURATION"] == 100


def test_ExternalCallTest_testAttachRecordInBase64(env, hook):
    """ExternalCallTest::testAttachRecordInBase64: finish, then FILE_ID > 0."""
    call_id, user_id = provided(env, hook)
    finish_for_user_id(env, hook, call_id, user_id, "100.00")
    assert attach_in_base64(env, hook, call_id)["FILE_ID"] > 0


def test_ExternalCallTest_testGetCallRecordUploadUrl(env, hook):
    """ExternalCallTest::testGetCallRecordUploadUrl: finish, then getCallRecordUploadUrl
    (FILENAME, FILE_CONTENT null) gives an uploadUrl. The PHP test asserts it contains
    'https://': a real portal is HTTPS. Trunkline builds the URL on the scheme the request
    came with, so the replay calls over HTTPS (the test client's https://testserver) and
    asserts the same."""
    call_id, user_id = provided(env, hook)
    finish_for_user_id(env, hook, call_id, user_id, "100.00")
    response = env.client.post(
        f"https://testserver{hook}telephony.externalCall.attachRecord",
        json={"CALL_ID": call_id, "FILENAME": CALL_RECORD_NAME},
    )
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert "https://" in result["uploadUrl"] and result["fieldName"] == "file"


def test_ExternalCallTest_testSearchCrmEntities(env, hook):
    """ExternalCallTest::testSearchCrmEntities: count(searchCrmEntities('79780000000')) >= 0,
    each item read as SearchCrmEntitiesItemResult."""
    register(env, hook, "79780000000")  # its CRM_CREATE lead is what a live portal holds
    found = call(
        env, hook, "telephony.externalCall.searchCrmEntities", {"PHONE_NUMBER": "79780000000"}
    )
    assert len(found) >= 0
    for item in found:
        assert item["CRM_ENTITY_TYPE"] in ("CONTACT", "COMPANY", "LEAD")
        assert int(item["CRM_ENTITY_ID"]) > 0 and int(item["ASSIGNED_BY_ID"]) > 0
        assert set(item["ASSIGNED_BY"]) >= {"ID", "TIMEMAN_STATUS", "USER_PHONE_INNER"}


# -- CallTest.php -----------------------------------------------------------------------------

LYRICS = [
    ("User", 1, 5, "We're no strangers to love"),
    ("Client", 5, 10, "You know the rules and so do I (do I)"),
    ("User", 10, 15, "A full commitment's what I'm thinking of"),
    ("Client", 15, 20, "You wouldn't get this from any other guy"),
    ("User", 20, 25, "I just wanna tell you how I'm feeling"),
    ("Client", 25, 30, "Gotta make you understand"),
    ("User", 30, 35, "Never gonna give you up"),
    ("Client", 35, 40, "Never gonna let you down"),
    ("User", 40, 45, "Never gonna run around and desert you"),
    ("Client", 45, 50, "Never gonna make you cry"),
    ("User", 50, 55, "Never gonna say goodbye"),
    ("Client", 55, 60, "Never gonna tell a lie and hurt you"),
]


def test_CallTest_testFinishWithUserId(env, hook):
    """CallTest::testFinishWithUserId (attachTranscription): finish (Money 30000 USD),
    attachCallRecordInBase64, then attachTranscription with twelve messages:
    TRANSCRIPT_ID > 0."""
    call_id, user_id = provided(env, hook)
    finish_for_user_id(env, hook, call_id, user_id, "300.00")
    attach_in_base64(env, hook, call_id)
    attached = call(
        env,
        hook,
        "telephony.call.attachTranscription",
        {
            "CALL_ID": call_id,
            "COST": "300.00",
            "COST_CURRENCY": "USD",
            "MESSAGES": [
                {"SIDE": side, "START_TIME": start, "STOP_TIME": stop, "MESSAGE": text}
                for side, start, stop, text in LYRICS
            ],
        },
    )
    assert attached["TRANSCRIPT_ID"] > 0
