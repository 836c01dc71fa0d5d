"""The operator API of the minimal CRM: POST and GET /operator/portals/{domain}/crm."""

from __future__ import annotations

from tests.web.conftest import AUTH, error_of, op


def test_post_entities_then_search_finds_them(ops):
    body = {
        "entities": [
            {"type": "contact", "name": "John", "phones": ["79780000000"]},
            {"type": "company", "name": "Daisy", "phones": "79780000000"},
        ]
    }
    ids = op(ops, "POST", "/operator/portals/test.bitrix24.com/crm", body, 201)["ids"]
    assert len(ids) == 2
    listed = op(ops, "GET", "/operator/portals/test.bitrix24.com/crm")["entities"]
    assert [(e["id"], e["type"], e["phones"]) for e in listed] == [
        (ids[0], "CONTACT", ["79780000000"]),
        (ids[1], "COMPANY", ["79780000000"]),
    ]
    found = ops.ok("telephony.externalCall.searchCrmEntities", {"PHONE_NUMBER": "79780000000"})
    assert [e["CRM_ENTITY_ID"] for e in found["result"]] == ids
    one = op(
        ops, "POST", "/operator/portals/test.bitrix24.com/crm", {"type": "lead", "name": "L"}, 201
    )
    assert len(one["ids"]) == 1


def test_bad_entities_are_refused_and_none_stored(ops):
    path = "/operator/portals/test.bitrix24.com/crm"
    bad = {"entities": [{"type": "lead", "name": "ok"}, {"type": "deal", "name": "x"}]}
    response = ops.client.post(path, json=bad, headers=AUTH)
    assert error_of(response) == (
        400,
        "invalid_request",
        "type 'deal' is not CONTACT, COMPANY or LEAD",
    )
    response = ops.client.post(path, json={"entities": "x"}, headers=AUTH)
    assert error_of(response)[:2] == (400, "invalid_request")
    assert op(ops, "GET", path)["entities"] == []
    response = ops.client.get("/operator/portals/nope.example/crm", headers=AUTH)
    assert error_of(response)[:2] == (404, "not_found")
    assert ops.client.get(path).status_code == 401
