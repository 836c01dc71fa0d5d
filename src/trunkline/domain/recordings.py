"""Call recordings and transcripts: what may be attached to a finished call (no I/O).

Rules written here:

* A recording is a wav or mp3 file: its name ends in ``.wav`` or ``.mp3`` (any case), and
  its first bytes are an mp3 (an ``ID3`` tag or an MPEG frame sync) or a RIFF/WAVE
  header, as the core's "audio/ only" check reads the content. Anything else is
  "Wrong file extension. Only wav and mp3 are allowed".
* A RECORD_URL is ``http`` or ``https`` with a host; it may name loopback
  (``localhost``, 127.0.0.0/8, ``::1``) or a host of the ``record_fetch_hosts`` setting
  (``*``: any host). Redirects are never followed, so an allowed host cannot hand the
  request on to another.
* A file's name without FILENAME is the last segment of the URL's path.
* A transcript message has SIDE ``User`` or ``Client`` (exactly), START_TIME >= 0,
  STOP_TIME > 0 and a non-empty MESSAGE; the errors name the message by its key
  (``MESSAGES[3][SIDE] ...``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from trunkline.domain.php import intval

EXTENSIONS = ("wav", "mp3")
CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg"}
UPLOAD_FIELD = "file"
UPLOAD_TTL = 3600  # seconds an upload URL stays usable
SNIFF_BYTES = 12

WRONG_EXTENSION = "Wrong file extension. Only wav and mp3 are allowed"
EMPTY_NAME = "File name is empty"
EMPTY_CONTENT = "File content is empty."
BAD_BASE64 = "File content is not properly encoded. Base64 encoding is expected."
SIDES = ("User", "Client")


def extension(name: str) -> str:
    """The lower-case extension of a file name ("" when it has none)."""
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[1].lower() if "." in base else ""


def allowed_name(name: str) -> bool:
    return extension(name) in EXTENSIONS


def is_audio(head: bytes) -> bool:
    """Whether the first bytes are an mp3 or a wav file."""
    if head.startswith(b"ID3"):
        return True
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return True
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(extension(name), "application/octet-stream")


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class RecordUrl:
    url: str
    host: str
    name: str  # the last path segment ("" when the path has none)


def parse_record_url(url: str) -> RecordUrl | None:
    """The URL's parts; None when it is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        return None
    return RecordUrl(url, host, unquote(parts.path.rsplit("/", 1)[-1]))


def host_allowed(host: str, setting: str) -> bool:
    """Loopback, or a host of the ``record_fetch_hosts`` setting (``*``: any)."""
    if _loopback(host):
        return True
    allowed = {item.strip().lower().strip("[]") for item in setting.split(",") if item.strip()}
    return "*" in allowed or host.lower() in allowed


def message_error(key: object, message: object) -> str | None:
    """Why one MESSAGES entry is refused (None: it is fine)."""
    fields = message if isinstance(message, dict) else {}
    if fields.get("SIDE") not in SIDES:
        return f"MESSAGES[{key}][SIDE] should be either Client or User"
    if intval(fields.get("START_TIME")) < 0:
        return f"MESSAGES[{key}][START_TIME] should be greater or equal to zero"
    if intval(fields.get("STOP_TIME")) <= 0:
        return f"MESSAGES[{key}][STOP_TIME] should be greater than zero"
    text = fields.get("MESSAGE")
    if text is None or text == "" or text is False or isinstance(text, list | dict):
        return f"MESSAGES[{key}][MESSAGE] is empty"
    return None
