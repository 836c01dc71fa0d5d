"""voximplant.line.get/.outgoing.get/.outgoing.set/.outgoing.sip.set through the wire, on
every backend: keys and names, the quirks of outgoing.set and sip.set, a deleted default
line, the right they need, and a bad-input table (never a 500, nothing stored)."""

from __future__ import annotations

import pytest


def error(response, status, code, description=None):
    """An error envelope (``argument`` may ride along with ERROR_ARGUMENT)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    if description is not None:
        assert body["error_description"] == description, body
    assert "result" not in body and "time" not in body
    return body


CLOUD = {"TYPE": "cloud", "SERVER": "sip.example.com", "LOGIN": "u1", "PASSWORD": "p1"}


def lines(env):
    return env.ok("voximplant.line.get")["result"]


def outgoing(env):
    return env.ok("voximplant.line.outgoing.get")["result"]


def test_line_get_empty_portal_is_empty_array(env):
    assert lines(env) == []


def test_line_get_keys_cloud_by_reg_id_and_office_by_config_id(env):
    cloud = env.add_line(**CLOUD, TITLE="SIP line")
    office = env.add_line(TITLE="")
    untitled = env.add_line(**{**CLOUD, "LOGIN": "u2"})
    assert lines(env) == {
        f"reg{cloud['REG_ID']}": "SIP line",
        f"sip{office['CONFIG_ID']}": f"Office PBX ({office['CONFIG_ID']})",
        f"reg{untitled['REG_ID']}": f"Cloud PBX ({untitled['CONFIG_ID']})",
    }


def test_line_get_names_are_html_escaped(env):
    office = env.add_line(TITLE="A & \"B\" <c> 'd'")
    assert lines(env) == {f"sip{office['CONFIG_ID']}": "A &amp; &quot;B&quot; &lt;c&gt; 'd'"}


def test_line_get_lists_lines_of_every_application(env):
    async def app_line():
        from trunkline.domain.lines import LineType, NewLine

        async with env.app.store.lines.line_writer(env.portal.id) as writer:
            return await writer.insert(
                NewLine(LineType.OFFICE, "theirs", "s", "l", None, "local.abc.123"),
                incoming_server="x",
            )

    theirs = env.run(app_line)
    assert lines(env) == {f"sip{theirs.config_id}": "theirs"}


def test_outgoing_get_is_base_number_until_set(env):
    assert outgoing(env) == "LINK_BASE_NUMBER"


def test_outgoing_set_then_get(env):
    cloud = env.add_line(**CLOUD)
    body = env.ok("voximplant.line.outgoing.set", {"line_id": f"reg{cloud['REG_ID']}"})
    assert body["result"] == 1
    assert outgoing(env) == f"reg{cloud['REG_ID']}"


def test_outgoing_set_unknown_line_answers_one_and_changes_nothing(env):
    office = env.add_line()
    env.ok("voximplant.line.outgoing.sip.set", {"CONFIG_ID": office["CONFIG_ID"]})
    for value in ["reg999999", "1", "", None, ["sip1"], {"a": 1}, "LINK_BASE_NUMBER "]:
        assert env.ok("voximplant.line.outgoing.set", {"LINE_ID": value})["result"] == 1
        assert outgoing(env) == f"sip{office['CONFIG_ID']}"
    assert env.ok("voximplant.line.outgoing.set", {})["result"] == 1


def test_outgoing_set_base_number(env):
    office = env.add_line()
    env.ok("voximplant.line.outgoing.set", {"LINE_ID": f"sip{office['CONFIG_ID']}"})
    env.ok("voximplant.line.outgoing.set", {"LINE_ID": "LINK_BASE_NUMBER"})
    assert outgoing(env) == "LINK_BASE_NUMBER"


def test_outgoing_sip_set_cloud_line(env):
    cloud = env.add_line(**CLOUD)
    body = env.ok("voximplant.line.outgoing.sip.set", {"config_id": str(cloud["CONFIG_ID"])})
    assert body["result"] == 1
    assert outgoing(env) == f"reg{cloud['REG_ID']}"


def test_outgoing_sip_set_unknown_config(env):
    body = error(
        env.call("voximplant.line.outgoing.sip.set", {"CONFIG_ID": 4242}),
        400,
        "ERROR_ARGUMENT",
        "Specified CONFIG_ID is not found",
    )
    assert "argument" not in body


def test_deleted_default_line_falls_back_to_base_number(env):
    office = env.add_line()
    env.ok("voximplant.line.outgoing.sip.set", {"CONFIG_ID": office["CONFIG_ID"]})
    env.ok("voximplant.sip.delete", {"CONFIG_ID": office["CONFIG_ID"]})
    assert outgoing(env) == "LINK_BASE_NUMBER"
    assert lines(env) == []


@pytest.mark.parametrize(
    "method",
    [
        "voximplant.line.get",
        "voximplant.line.outgoing.get",
        "voximplant.line.outgoing.set",
        "voximplant.line.outgoing.sip.set",
    ],
)
def test_line_methods_need_line_modify_right(env, method):
    hook = env.webhook(env.user("plain"))
    error(env.call(method, {"CONFIG_ID": "x"}, hook=hook), 403, "ACCESS_DENIED", "Access denied!")


def test_line_modify_right_is_enough(env):
    hook = env.webhook(env.user("operator", line_modify=True))
    assert env.ok("voximplant.line.get", hook=hook)["result"] == []


# -- bad input: never a 500, nothing stored -----------------------------------------

BAD_SIP_SET = [
    ({}, "ERROR_ARGUMENT", "Specified CONFIG_ID is not found"),
    ({"CONFIG_ID": None}, "ERROR_ARGUMENT", "Specified CONFIG_ID is not found"),
    ({"CONFIG_ID": 0}, "ERROR_ARGUMENT", "Specified CONFIG_ID is not found"),
    ({"CONFIG_ID": -1}, "ERROR_ARGUMENT", "Specified CONFIG_ID is not found"),
    ({"CONFIG_ID": "abc"}, "ERROR_ARGUMENT", "Specified CONFIG_ID is not found"),
    ({"CONFIG_ID": 1e300}, "ERROR_ARGUMENT", "Specified CONFIG_ID is not found"),
    ({"CONFIG_ID": "9" * 40}, "ERROR_ARGUMENT", "Specified CONFIG_ID is not found"),
    ({"CONFIG_ID": [1]}, "ERROR_ARGUMENT", "Parameter CONFIG_ID must be an integer"),
    ({"CONFIG_ID": {"a": 1}}, "ERROR_ARGUMENT", "Parameter CONFIG_ID must be an integer"),
]


@pytest.mark.parametrize(("payload", "code", "text"), BAD_SIP_SET)
def test_outgoing_sip_set_bad_input(env, payload, code, text):
    env.add_line()  # CONFIG_ID 1 exists: nothing may pick it by accident
    error(env.call("voximplant.line.outgoing.sip.set", payload), 400, code, text)
    assert outgoing(env) == "LINK_BASE_NUMBER"


def test_outgoing_set_form_encoded_junk(env):
    for body in ["LINE_ID[]=reg1&LINE_ID[]=sip1", "LINE_ID[a][b]=1", "LINE_ID=%00", "x=1"]:
        response = env.client.post(
            env.hook + "voximplant.line.outgoing.set",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200 and response.json()["result"] == 1
    assert outgoing(env) == "LINK_BASE_NUMBER"


def test_outgoing_set_takes_an_external_line_number_but_line_get_leaves_it_out(env):
    """The core checks LINE_ID against its fuller list (GetPortalNumbers(true, true)), which
    has the applications' external lines; voximplant.line.get does not list them."""
    assert env.ok("telephony.externalLine.add", {"NUMBER": "74951234567"})["result"]
    assert env.ok("voximplant.line.outgoing.set", {"LINE_ID": "74951234567"})["result"] == 1
    assert outgoing(env) == "74951234567"
    assert lines(env) == []
    env.ok("telephony.externalLine.delete", {"NUMBER": "74951234567"})
    assert outgoing(env) == "LINK_BASE_NUMBER"
