"""Built-in calls and the telephony links: ``voximplant.callback.start``,
``voximplant.infocall.startwithsound``, ``.startwithtext``, ``voximplant.tts.voices.get``,
``voximplant.url.get``.

Rules (the pages; where the PHP core differs, docs/builtin-telephony.md says so):

* Parameters are read with their exact case, as the core's handlers read them. A JSON
  ``null`` counts as absent; an array where a string is expected is 400 ``ERROR_ARGUMENT``
  naming the parameter.
* Errors in the pages' words, ``ERROR_CORE`` 400, in this order: the line (``FROM_LINE``),
  then the number (``TO_NUMBER``): "Could not find line <LINE_ID>" (callback), "Could not
  find config for number <LINE_ID>" and "Making infocall using LINK_BASE_NUMBER is not
  allowed" (infocall), "Phone number is not correct"; ``startwithsound`` needs an http(s)
  ``URL``, else "Infocall failure". ``TEXT_TO_PRONOUNCE`` and ``VOICE`` are not checked by
  the core (it hands them to the speech service); Trunkline carries no media.
* Any user of the portal may start them ("Outgoing call - execute" is every employee's
  right by default); the call is the calling user's.
* The result is ``{"RESULT": true, "CALL_ID": ...}``; the call then lives as the call
  simulator scripts it (``services/simulator.py``).
* ``url.get``: the four pages under ``public_url``, else the address the request came to.
"""

from __future__ import annotations

from typing import Any

from trunkline.domain.calls import CallType
from trunkline.domain.php import strval
from trunkline.domain.telephony import VOICES, telephony_links
from trunkline.errors import ArgumentError, CallStartError
from trunkline.rest.registry import Call, Registry, Result

SCOPE = "telephony"


def _text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None:
        return ""
    text = strval(value)
    if text is None:
        raise ArgumentError(f"Parameter {name} must be a string", name)
    return text


async def _start(call: Call, kind: CallType) -> Result:
    params = call.params
    from_line = _text(params, "FROM_LINE")
    to_number = _text(params, "TO_NUMBER")
    _text(params, "TEXT_TO_PRONOUNCE" if "URL" not in params else "URL")
    _text(params, "VOICE")
    principal = call.principal
    call_id = await call.services.simulator.start_builtin(
        principal.portal, principal.user, kind=kind, from_line=from_line, to_number=to_number
    )
    return Result({"RESULT": True, "CALL_ID": call_id})


async def callback_start(call: Call) -> Result:
    return await _start(call, CallType.CALLBACK)


async def infocall_with_text(call: Call) -> Result:
    return await _start(call, CallType.INFOCALL)


async def infocall_with_sound(call: Call) -> Result:
    url = _text(call.params, "URL").strip().lower()
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        # The line and the number are checked first, as the core checks them.
        await call.services.simulator.check_builtin(
            call.principal.portal,
            kind=CallType.INFOCALL,
            from_line=_text(call.params, "FROM_LINE"),
            to_number=_text(call.params, "TO_NUMBER"),
        )
        raise CallStartError("Infocall failure")
    return await _start(call, CallType.INFOCALL)


async def tts_voices_get(call: Call) -> Result:
    return Result(dict(VOICES))


async def url_get(call: Call) -> Result:
    settings = call.services.settings
    base = settings.public_url or call.base_url or f"https://{call.principal.portal.domain}"
    return Result(telephony_links(base))


def register(registry: Registry) -> None:
    registry.add("voximplant.callback.start", callback_start, scope=SCOPE)
    registry.add("voximplant.infocall.startwithtext", infocall_with_text, scope=SCOPE)
    registry.add("voximplant.infocall.startwithsound", infocall_with_sound, scope=SCOPE)
    registry.add("voximplant.tts.voices.get", tts_voices_get, scope=SCOPE)
    registry.add("voximplant.url.get", url_get, scope=SCOPE)
