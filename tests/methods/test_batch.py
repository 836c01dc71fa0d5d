"""batch: command encodings, references, halt, limits and the answer shape."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from trunkline.methods.batch import php_array


def batch(env, body=None, **kwargs):
    response = env.call("batch", body, **kwargs)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert set(payload) == {"result", "time"}
    return payload["result"]


def test_batch_object_commands(env):
    env.add_line(TITLE="A")
    out = batch(
        env,
        {
            "cmd": {
                "list": "voximplant.sip.get",
                "add": "voximplant.sip.add?TYPE=office&SERVER=s&LOGIN=l",
            }
        },
    )
    assert out["result"]["list"][0]["TITLE"] == "A"
    assert out["result"]["add"]["TYPE"] == "office"
    assert out["result_total"] == {"list": 1}
    assert out["result_error"] == [] and out["result_next"] == []
    assert set(out["result_time"]) == {"list", "add"}
    assert set(out["result_time"]["list"]) >= {"start", "finish", "operating"}


def test_batch_array_commands_give_lists(env):
    out = batch(env, {"cmd": ["voximplant.sip.get?", "voximplant.sip.get"], "halt": 0})
    assert out["result"] == [[], []]
    assert isinstance(out["result_time"], list) and len(out["result_time"]) == 2


def test_batch_array_with_failure_gives_objects(env):
    out = batch(env, {"cmd": ["voximplant.sip.get", "no.method", "voximplant.sip.get"]})
    assert out["result"] == {"0": [], "2": []}
    assert out["result_error"] == {
        "1": {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
    }


@pytest.mark.parametrize("halt", [True, 1, "1", "true", "false"])
def test_batch_halt_stops_at_first_failure(env, halt):
    out = batch(env, {"cmd": {"a": "nope", "b": "voximplant.sip.get"}, "halt": halt})
    assert list(out["result_error"]) == ["a"] and out["result"] == []


@pytest.mark.parametrize("halt", [False, 0, "0", ""])
def test_batch_without_halt_runs_everything(env, halt):
    out = batch(env, {"cmd": {"a": "nope", "b": "voximplant.sip.get"}, "halt": halt})
    assert list(out["result_error"]) == ["a"] and out["result"] == {"b": []}


def test_batch_form_encoded_double_encoding(env):
    line = env.add_line(TITLE="X")
    inner = f"voximplant.sip.get?FILTER%5BCONFIG_ID%5D%5B0%5D={line['CONFIG_ID']}"
    body = f"cmd%5Ba%5D={quote(inner, safe='')}&halt=1"
    response = env.client.post(
        env.hook + "batch.json",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    out = response.json()["result"]
    assert out["result"]["a"][0]["TITLE"] == "X"


def test_batch_encodings_agree(env):
    line = env.add_line(TITLE="X")
    env.add_line(TITLE="Y")
    cid = line["CONFIG_ID"]
    commands = [
        f"voximplant.sip.get?FILTER[CONFIG_ID][0]={cid}",
        f"voximplant.sip.get?FILTER%5BCONFIG_ID%5D%5B0%5D={cid}",
        f"voximplant.sip.get?FILTER%5BCONFIG_ID%5D%5B%5D={cid}&",
        f"voximplant.sip.get?__order=o1&FILTER[CONFIG_ID][0]={cid}&",
        quote(f"voximplant.sip.get?FILTER[CONFIG_ID][0]={cid}", safe=""),
    ]
    out = batch(env, {"cmd": commands})
    assert all(r[0]["TITLE"] == "X" and len(r) == 1 for r in out["result"])


def test_batch_references(env):
    out = batch(
        env,
        {
            "cmd": {
                "add": "voximplant.sip.add?TYPE=office&SERVER=s&LOGIN=l&TITLE=first",
                "upd": "voximplant.sip.update?CONFIG_ID=$result[add][CONFIG_ID]"
                "&TITLE=id-$result[add][CONFIG_ID]",
                "get": "voximplant.sip.get?FILTER[CONFIG_ID]=$result[add][CONFIG_ID]",
                "whole": "voximplant.sip.get?FILTER=$result[missing]",
                "deep": "voximplant.sip.get?FILTER[TITLE]=$result[get][0][TITLE]x",
            }
        },
    )
    cid = out["result"]["add"]["CONFIG_ID"]
    assert out["result"]["upd"] == 1
    assert out["result"]["get"][0]["TITLE"] == f"id-{cid}"
    assert out["result"]["deep"] == []
    assert out["result"]["whole"][0]["TITLE"] == f"id-{cid}"


def test_batch_reference_inserts_whole_structures(env):
    env.add_line(TITLE="A")
    env.add_line(TITLE="B")
    out = batch(
        env,
        {
            "cmd": {
                "all": "voximplant.sip.get",
                "first": "voximplant.sip.get?FILTER[TITLE]=$result[all][0][TITLE]",
                "err": "nope",
                "ref_err": "voximplant.sip.get?FILTER[TITLE]=$error[err][error]",
                "tot": "voximplant.sip.get?start=$total[all]",
            }
        },
    )
    assert [r["TITLE"] for r in out["result"]["first"]] == ["A"]
    assert out["result"]["ref_err"] == []
    assert out["result"]["tot"] == [] and out["result_total"]["tot"] == 2


def test_batch_length_exceeded(env):
    cmd = {f"c{i}": "voximplant.sip.get" for i in range(52)}
    out = batch(env, {"cmd": cmd})
    assert len(out["result"]) == 50
    assert out["result_error"] == {
        key: {
            "error": "ERROR_BATCH_LENGTH_EXCEEDED",
            "error_description": "Max batch length exceeded",
        }
        for key in ("c50", "c51")
    }
    halted = batch(env, {"cmd": cmd, "halt": 1})
    assert list(halted["result_error"]) == ["c50"]


def test_batch_nested_refused(env):
    out = batch(env, {"cmd": {"inner": "batch?cmd[a]=voximplant.sip.get"}})
    assert out["result_error"]["inner"] == {
        "error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
        "error_description": "Method is not allowed for batch usage",
    }


def test_batch_scope_error_has_empty_description(env):
    hook = env.webhook(1, ["crm"])
    out = batch(env, {"cmd": {"a": "voximplant.sip.get"}}, hook=hook)
    assert out["result_error"]["a"] == {"error": "insufficient_scope", "error_description": ""}


def test_batch_skips_non_string_commands_and_bad_cmd(env):
    assert batch(env, {"cmd": {"a": 5, "b": ["x"], "c": None}})["result"] == []
    assert batch(env, {"cmd": "voximplant.sip.get"})["result"] == []
    assert batch(env)["result"] == []


def test_batch_sub_call_errors_keep_their_codes(env):
    out = batch(
        env,
        {"cmd": {"a": "voximplant.sip.update?CONFIG_ID=999&TITLE=x", "b": "voximplant.sip.add"}},
    )
    assert out["result_error"]["a"]["error"] == "ERROR_NOT_FOUND"
    assert out["result_error"]["b"]["error"] == "CHECK_FIELDS_ERROR"


def test_batch_method_names_any_case(env):
    assert batch(env, {"cmd": {"a": "VoxImplant.Sip.Get"}})["result"] == {"a": []}


def test_php_array_shapes():
    assert php_array({}) == []
    assert php_array({"0": 1, "1": 2}) == [1, 2]
    assert php_array({"1": 1}) == {"1": 1}
    assert php_array({"a": 1}) == {"a": 1}
