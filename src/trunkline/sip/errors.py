"""The SIP error family.

Rules:

* Every error the sans-IO SIP core raises on purpose derives from `SipError`.
* Malformed bytes, headers, URIs or digest parameters raise `SipParseError` (or a subclass),
  never `IndexError`, `ValueError` or `UnicodeDecodeError`.
* SIP errors never cross into REST: the engine turns them into a registration state.

The tree::

    SipError
     +-- SipParseError                  malformed input: message, header, URI, digest params
     |    +-- SipMessageTooLargeError   a message, its headers or its body passed the size cap
     +-- UnsupportedChallengeError      no offered challenge can be answered
     +-- SipStateError                  an operation the current protocol state does not allow
"""

from __future__ import annotations

__all__ = [
    "SipError",
    "SipMessageTooLargeError",
    "SipParseError",
    "SipStateError",
    "UnsupportedChallengeError",
]


class SipError(Exception):
    """Base of every error raised by `trunkline.sip`."""


class SipParseError(SipError):
    """Input that does not follow the SIP (or digest) grammar."""


class SipMessageTooLargeError(SipParseError):
    """A message, its header block or its body passed the configured size cap."""


class UnsupportedChallengeError(SipError):
    """No offered challenge uses a digest algorithm and qop this client can answer."""


class SipStateError(SipError):
    """The operation is not allowed in the object's current state (a caller bug)."""
