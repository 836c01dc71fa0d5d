"""``telephony.externalCall.attachRecord`` and ``telephony.call.attachTranscription``:
the wire side (``services/recordings.py`` has the rules).

Rules of the wire:

* attachRecord picks its mode as the core does: RECORD_URL when set (a download), else
  FILENAME when set (with FILE_CONTENT: the content; without: an upload URL and the
  field name ``file``), else "Required parameters are not set. ...". It answers
  ``{"FILE_ID": <int>}`` or ``{"uploadUrl": ..., "fieldName": "file"}``. The upload URL
  is built on ``public_url``, else on the scheme and host the request came to.
* attachTranscription: "CALL_ID should be set", "MESSAGES should be an array" (a JSON
  list or object), each message's checks in order, then the finished call; COST (with
  COST_CURRENCY) is kept only when it is not zero. It answers ``{"TRANSCRIPT_ID": <int>}``.
* Parameters that should be strings refuse arrays (400 ``ERROR_ARGUMENT``).
"""

from __future__ import annotations

from typing import Any

from trunkline.domain.calls import to_cost
from trunkline.domain.recordings import message_error
from trunkline.errors import RefusedError
from trunkline.methods.voximplant_sip import text_param, upper_keys
from trunkline.rest.registry import Call, Registry, Result

SCOPE = "telephony"


def _base(call: Call) -> str:
    settings = call.services.settings
    if settings.public_url:
        return settings.public_url
    if call.base_url:
        return call.base_url
    return f"https://{call.principal.portal.domain}"


async def attach_record(call: Call) -> Result:
    params = upper_keys(call.params)
    recordings = call.services.recordings
    portal_id = call.principal.portal.id
    call_id = text_param(params, "CALL_ID") or ""
    url = text_param(params, "RECORD_URL")
    filename = text_param(params, "FILENAME")
    if url is not None:
        file_id = await recordings.attach_url(portal_id, call_id, url, filename or "")
        return Result({"FILE_ID": file_id})
    if filename is None:
        raise recordings.no_source()
    content = text_param(params, "FILE_CONTENT")
    if content is None:
        return Result(await recordings.upload_url(portal_id, call_id, filename, _base(call)))
    file_id = await recordings.attach_content(portal_id, call_id, filename, content)
    return Result({"FILE_ID": file_id})


def _messages(raw: Any) -> list[tuple[object, Any]]:
    if isinstance(raw, list):
        return list(enumerate(raw))
    if isinstance(raw, dict):
        return list(raw.items())
    raise RefusedError("MESSAGES should be an array")


async def attach_transcription(call: Call) -> Result:
    params = upper_keys(call.params)
    call_id = params.get("CALL_ID")
    if call_id is None:
        raise RefusedError("CALL_ID should be set")
    call_id = text_param(params, "CALL_ID") or ""
    messages = _messages(params.get("MESSAGES"))
    for key, message in messages:
        problem = message_error(key, message)
        if problem is not None:
            raise RefusedError(problem)
    cost = to_cost(text_param(params, "COST"))
    currency = text_param(params, "COST_CURRENCY") or ""
    kept = [
        {
            "SIDE": message["SIDE"],
            "START_TIME": message.get("START_TIME"),
            "STOP_TIME": message.get("STOP_TIME"),
            "MESSAGE": message.get("MESSAGE"),
        }
        for _, message in messages
    ]
    transcript_id = await call.services.recordings.attach_transcription(
        call.principal.portal.id,
        call_id,
        kept,
        cost if cost else None,
        currency[:16] if cost else None,
    )
    return Result({"TRANSCRIPT_ID": transcript_id})


def register(registry: Registry) -> None:
    registry.add("telephony.externalCall.attachRecord", attach_record, scope=SCOPE)
    registry.add("telephony.call.attachTranscription", attach_transcription, scope=SCOPE)
