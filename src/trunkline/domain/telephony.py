"""Built-in telephony values: line keys, users' SIP phones, voices, links (no I/O).

Rules written here (from the docs pages of ``voximplant.line.*``, ``voximplant.user.*``,
``voximplant.tts.voices.get`` and ``voximplant.url.get``, checked against the PHP core):

* A line's key is ``reg<REG_ID>`` for a cloud SIP line and ``sip<CONFIG_ID>`` for an office
  line (:func:`line_key`); its name is its TITLE, else ``Cloud PBX (<CONFIG_ID>)`` or
  ``Office PBX (<CONFIG_ID>)`` (:func:`line_name`), HTML-escaped as the core escapes it.
* ``LINK_BASE_NUMBER`` is the portal's base line: the default outgoing line when none was
  set or the one set no longer exists (the core reads it back that way, it never clears
  the option).
* A user's SIP phone logs in as ``phone<USER_ID>`` (:func:`phone_login`); its password is
  made when the phone is first activated and kept through deactivation.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

LINK_BASE_NUMBER = "LINK_BASE_NUMBER"
OUTGOING_LINE = "outgoing_line"  # the portal option that holds the default outgoing line
PHONE_LOGIN_PREFIX = "phone"
SIP_PASSWORD_BYTES = 6  # 12 hex digits, as the page's example "28fec473a88a"

_PHONE_LOGIN = re.compile(r"phone([1-9][0-9]{0,9})\Z")


def line_key(line_type: str, config_id: int, reg_id: int) -> str:
    """``reg<REG_ID>`` for a cloud line, ``sip<CONFIG_ID>`` for an office line."""
    return f"reg{reg_id}" if line_type == "cloud" else f"sip{config_id}"


def line_name(line_type: str, config_id: int, title: str | None) -> str:
    """The name ``voximplant.line.get`` shows: the TITLE, else the core's default."""
    if title:
        return html.escape(title, quote=False).replace('"', "&quot;")  # PHP ENT_COMPAT
    kind = "Cloud PBX" if line_type == "cloud" else "Office PBX"
    return f"{kind} ({config_id})"


def phone_login(user_id: int) -> str:
    return f"{PHONE_LOGIN_PREFIX}{user_id}"


def phone_user(login: str) -> int | None:
    """The user id of a phone login ``phone<USER_ID>``; None for any other login."""
    match = _PHONE_LOGIN.match(login)
    if match is None:
        return None
    user_id = int(match.group(1))
    return user_id if user_id < 2**31 else None


@dataclass(frozen=True, slots=True)
class UserPhone:
    """A user's SIP phone settings (``voximplant.user.get``)."""

    user_id: int
    phone_enabled: str | None = None  # "Y" / "N"; None: never set
    sip_password: str | None = None
    default_line: str | None = None
    inner_number: str | None = None

    @property
    def enabled(self) -> bool:
        return self.phone_enabled == "Y"


# voximplant.tts.voices.get: the page's list, in its order.
VOICES: dict[str, str] = {
    "auenglishfemale": "Australian English (Female) (Amazon)",
    "brportuguesefemale": "Brazilian Portuguese (Female) (Amazon)",
    "caenglishfemale": "Canadian English (Female) (Default)",
    "cafrenchfemale": "Canadian French (Female) (Amazon)",
    "cafrenchmale": "Canadian French (Male) (Amazon)",
    "chchinesefemale": "Chinese (Female) (Default)",
    "chchinesemale": "Chinese (Male) (Default)",
    "eurcatalanfemale": "Catalan (Female) (Default)",
    "eurczechfemale": "Czech (Female) (Default)",
    "eurdanishfemale": "Danish (Female) (Default)",
    "eurdutchfemale": "Dutch (Female) (Default)",
    "eurfinnishfemale": "Finnish (Female) (Default)",
    "eurfrenchfemale": "French (Female) (Amazon)",
    "eurfrenchmale": "French (Male) (Amazon)",
    "eurgermanfemale": "German (Female) (Default)",
    "eurgermanmale": "German (Male) (Default)",
    "euritalianfemale": "Italian (Female) (Default)",
    "euritalianmale": "Italian (Male) (Default)",
    "eurnorwegianfemale": "Norwegian (Female) (Default)",
    "eurpolishfemale": "Polish (Female) (Default)",
    "eurportuguesefemale": "Portuguese (Female) (Default)",
    "eurportuguesemale": "Portuguese (Male) (Default)",
    "eurspanishfemale": "Spanish (Female) (Default)",
    "eurspanishmale": "Spanish (Male) (Default)",
    "eurturkishfemale": "Turkish (Female) (Default)",
    "eurturkishmale": "Turkish (Male) (Default)",
    "hkchinesefemale": "Hong Kong Cantonese (Female) (Default)",
    "huhungarianfemale": "Hungarian (Female) (Default)",
    "jpjapanesefemale": "Japanese (Female) (Default)",
    "jpjapanesemale": "Japanese (Male) (Default)",
    "krkoreanfemale": "Korean (Female) (Default)",
    "krkoreanmale": "Korean (Male) (Default)",
    "usinternalfemale": "English (Female) (Default)",
    "usinternalmale": "English (Male) (Default)",
    "swswedishfemale": "Swedish (Female) (Default)",
    "twchinesefemale": "Taiwanese Chinese (Female) (Default)",
    "ukenglishfemale": "English (Female) (Amazon)",
    "ukenglishmale": "English (Male) (Amazon)",
    "usenglishfemale": "American English (Female) (Default)",
    "usenglishmale": "American English (Male) (Default)",
    "usspanishfemale": "American Spanish (Female) (Amazon)",
    "usspanishmale": "American Spanish (Male) (Amazon)",
}


def telephony_links(base_url: str) -> dict[str, str]:
    """``voximplant.url.get``: the four pages under the portal's public address."""
    base = base_url.rstrip("/")
    return {
        "detail_statistics": f"{base}/telephony/detail.php",
        "buy_connector": f"{base}/settings/license_phone_sip.php",
        "edit_config": f"{base}/telephony/edit.php?ID=#CONFIG_ID#",
        "lines": f"{base}/telephony/lines.php",
    }


# -- built-in calls and the call simulator -------------------------------------------

# CALL_FAILED_REASON of a status code, in the words of the OnVoximplantCallEnd page.
FAILED_REASONS: dict[str, str] = {
    "200": "Successful call",
    "304": "Missed call",
    "603": "Declined",
    "603-S": "Call canceled",
    "403": "Forbidden",
    "404": "Invalid number",
    "486": "Busy",
    "484": "Direction unavailable",
    "503": "Direction unavailable",
    "480": "Temporarily unavailable",
    "402": "Insufficient funds",
    "423": "Blocked",
    "OTHER": "Undefined",
}
RING_SECONDS = 30.0  # how long a call nobody answers rings before it ends as missed
NUMBER_DIGITS = (5, 20)  # a number Trunkline dials has this many digits (after cleaning)
_NUMBER_JUNK = re.compile(r"[\s\-().]")


def dialable(number: str) -> str | None:
    """``TO_NUMBER`` cleaned of spaces, dashes, dots and brackets, an optional leading ``+``
    kept; None when it is not 5 to 20 digits ("Phone number is not correct")."""
    cleaned = _NUMBER_JUNK.sub("", number)
    digits = cleaned[1:] if cleaned.startswith("+") else cleaned
    low, high = NUMBER_DIGITS
    if not digits.isascii() or not digits.isdigit() or not low <= len(digits) <= high:
        return None
    return cleaned


@dataclass(frozen=True, slots=True)
class CallScript:
    """How a simulated call lives: answered after ``answer_after`` seconds (None: nobody
    answers and it rings ``ring`` seconds), then lasting ``duration`` seconds; ends with
    ``status_code`` ("" : 200 when it lasted, else 304) and a cost."""

    answer_after: float | None = 2.0
    duration: int = 10
    status_code: str = ""
    failed_reason: str = ""
    cost: str = "0"
    cost_currency: str = ""
    ring: float = RING_SECONDS

    @property
    def ends_after(self) -> float:
        if self.answer_after is None:
            return self.ring
        return self.answer_after + self.duration
