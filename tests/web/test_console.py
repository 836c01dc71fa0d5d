"""The web console in-process: sign-in (operator token, administrator password), the pages,
paging, faults set and cleared through forms with their token, and who may do what."""

from __future__ import annotations

import re

from tests.storage.test_history import entry
from tests.web.conftest import TOKEN
from trunkline.auth import passwords


def sign_in(env, token: str = TOKEN):
    return env.client.post("/console/login", data={"token": token}, follow_redirects=False)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


def test_console_needs_a_sign_in(ops):
    response = ops.client.get("/console/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/console/login")
    assert ops.client.get("/console/login").status_code == 200
    wrong = sign_in(ops, "nope")
    assert wrong.status_code == 401 and "Wrong token" in wrong.text
    assert "tl_console" not in wrong.cookies
    ops.client.cookies.set("tl_console", "op.0.0.9999999999.00", path="/console")
    forged = ops.client.get("/console/")
    assert forged.url.path == "/console/login"


def test_operator_sees_portals_lines_history_and_pages(ops):
    for n in range(120):
        ops.add_line(TYPE="office", TITLE=f"pbx {n}")
    ops.run(ops.app.store.history.append, [entry(ops.portal.id, 3, n) for n in range(3)], 100)
    assert sign_in(ops).status_code == 303
    home = ops.client.get("/console/")
    assert home.status_code == 200 and ops.portal.domain in home.text
    first = ops.client.get(f"/console/portals/{ops.portal.domain}")
    assert "1–50 of 120" in first.text and 'href="?start=50"' in first.text
    third = ops.client.get(f"/console/portals/{ops.portal.domain}?start=100")
    assert "101–120 of 120" in third.text and ">120</a>" in third.text
    line = ops.client.get(f"/console/portals/{ops.portal.domain}/lines/3")
    assert line.status_code == 200
    assert "3 changes kept" in line.text and "REGISTER sip:n2 SIP/2.0" in line.text
    assert ops.client.get(f"/console/portals/{ops.portal.domain}/lines/999").status_code == 404
    as_json = ops.client.get(f"/console/portals/{ops.portal.domain}/lines/3/history.json")
    assert as_json.json()["total"] == 3
    assert as_json.json()["entries"][0]["transaction"][0]["start_line"] == "REGISTER sip:n2 SIP/2.0"
    pcap = ops.client.get(f"/console/portals/{ops.portal.domain}/lines/3/last.pcap")
    assert pcap.status_code == 200 and pcap.content[:4] == b"\xd4\xc3\xb2\xa1"
    none = ops.client.get(f"/console/portals/{ops.portal.domain}/lines/4/last.pcap")
    assert none.status_code == 404
    for page in ("calls", "limits"):
        assert ops.client.get(f"/console/portals/{ops.portal.domain}/{page}").status_code == 200
    assert ops.client.get("/console/events").status_code == 200
    ops.ok("voximplant.sip.get")
    journal = ops.client.get("/console/requests")
    assert journal.status_code == 200 and "<td>voximplant.sip.get</td>" in journal.text
    assert ops.client.get("/console/portals/nope.example").status_code == 404
    css = ops.client.get("/console/static/console.css")
    assert css.status_code == 200 and "@media" in css.text
    assert ops.client.get("/console/static/other.txt").status_code == 404


def test_operator_sets_and_clears_a_fault_through_forms(ops):
    sign_in(ops)
    path = f"/console/portals/{ops.portal.domain}"
    page = ops.client.get(path + "/limits")
    token = csrf(page.text)
    refused = ops.client.post(path + "/faults", data={"kind": "query-limit"})
    assert refused.status_code == 403
    bad = ops.client.post(path + "/faults", data={"kind": "nonsense", "csrf": token})
    assert bad.status_code == 400 and "nonsense" in bad.text
    made = ops.client.post(
        path + "/faults",
        data={"kind": "query-limit", "method": "voximplant.sip.get", "csrf": token},
    )
    assert made.status_code == 200 and 'class="kind">query-limit' in made.text
    refused_call = ops.call("voximplant.sip.get")
    assert refused_call.json()["error"] == "QUERY_LIMIT_EXCEEDED"
    (fault_id,) = re.findall(r"/faults/(\d+)/clear", made.text)
    cleared = ops.client.post(path + f"/faults/{fault_id}/clear", data={"csrf": token})
    assert "No fault is set." in cleared.text
    assert ops.call("voximplant.sip.get").status_code == 200
    state = ops.client.post(path + "/state", data={"plan": "standard", "limits": "default",
                                                   "blocked": "on", "csrf": token})  # fmt: skip
    assert state.status_code == 200 and 'id="blocked" checked' in state.text
    assert ops.call("voximplant.sip.get").json()["error"] == "OVERLOAD_LIMIT"
    ops.client.post(path + "/state", data={"plan": "standard", "limits": "default",
                                           "csrf": token})  # fmt: skip
    assert ops.call("voximplant.sip.get").status_code == 200


def test_administrator_signs_in_with_a_password_and_only_reads_their_portal(ops):
    hashed = passwords.hash_password("s3cret-pass")
    ops.run(ops.app.store.accounts.set_password_hash, ops.portal.id, 1, hashed)
    other = ops.run(ops.accounts.create_portal, "other.bitrix24.com", title="Other")
    wrong = ops.client.post(
        "/console/login",
        data={"portal": ops.portal.domain, "login": "admin", "password": "x"},
    )
    assert wrong.status_code == 401
    signed = ops.client.post(
        "/console/login",
        data={"portal": ops.portal.domain, "login": "admin", "password": "s3cret-pass"},
    )
    assert signed.url.path == f"/console/portals/{ops.portal.domain}"
    assert ops.client.get(f"/console/portals/{other.domain}").status_code == 404
    limits = ops.client.get(f"/console/portals/{ops.portal.domain}/limits")
    assert 'id="set-fault"' not in limits.text
    denied = ops.client.post(
        f"/console/portals/{ops.portal.domain}/faults",
        data={"kind": "query-limit", "csrf": csrf(limits.text)},
    )
    assert denied.status_code == 403


def test_a_light_hash_is_rehashed_at_the_full_cost_by_a_console_sign_in(ops):
    light = passwords.hash_generated("a-generated-one")
    ops.run(ops.app.store.accounts.set_password_hash, ops.portal.id, 1, light)
    signed = ops.client.post(
        "/console/login",
        data={"portal": ops.portal.domain, "login": "admin", "password": "a-generated-one"},
    )
    assert signed.url.path == f"/console/portals/{ops.portal.domain}"
    stored = ops.run(ops.app.store.accounts.password_hash, ops.portal.id, 1)
    assert stored != light and not passwords.needs_rehash(stored)
    assert passwords.verify(stored, "a-generated-one")


def test_sign_in_locks_out_after_five_failures(ops):
    for _ in range(5):
        assert sign_in(ops, "wrong").status_code == 401
    assert sign_in(ops).status_code == 429
