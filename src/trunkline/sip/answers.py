"""The registrar's values (`Source`, `Account`, `Binding`, `RegistrarDecision`, made per
request: sip/registrar.py has their rules) and the Via values of its answer (RFC 3261
§18.2.1, RFC 3581).

The top Via gets `received` (the source host) when the source host differs from its
sent-by host or `rport` was asked for, and `rport=<source port>` when asked; the other
values are copied as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trunkline.sip.headers import Via, split_list
from trunkline.sip.message import Response

__all__ = [
    "Account",
    "Binding",
    "RegistrarDecision",
    "Source",
    "stamped_vias",
    "stamped_vias_general",
]

# A Via element as `str(Via)` writes it (see `stamped_vias`), and a host written as it is.
_VALUE = r"[A-Za-z0-9\-.!%*_+`'~:\[\]]+"  # headers._PLAIN_VALUE_RE: not quoted on output
_CANONICAL_VIA_RE = re.compile(
    r"SIP/2\.0/[A-Z0-9\-.!%*_+`'~]+"
    r" (?:[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?\.?|\[[0-9A-Fa-f:.]+\])(?::[1-9][0-9]{0,4})?"
    rf"(?:;[a-z0-9\-.!%*_+`'~]+(?:={_VALUE})?)*"
)
_PLAIN_HOST_RE = re.compile(_VALUE)


@dataclass(slots=True, unsafe_hash=True)  # made per datagram: see registrar.Binding
class Source:
    """Where a request came from."""

    host: str
    port: int
    transport: str = "UDP"


@dataclass(slots=True, unsafe_hash=True)  # made per REGISTER: see Binding
class Account:
    """An office line's incoming credentials; `ha1` (for `algorithm`) may replace `password`."""

    username: str
    password: str | None = None
    ha1: str | None = None
    algorithm: str = "MD5"


# Binding and RegistrarDecision are made for every REGISTER (a Binding for every stored one
# read too): compared and hashed by value as frozen dataclasses are, and never changed once
# made, but not frozen (a frozen __init__ sets each field through object.__setattr__).
@dataclass(slots=True, unsafe_hash=True)
class Binding:
    """One registered contact of an office line."""

    contact: str
    expires_at: float
    call_id: str
    cseq: int
    source: Source
    user_agent: str | None = None
    instance_id: str | None = None
    reg_id: str | None = None


@dataclass(slots=True, unsafe_hash=True)  # see Binding
class RegistrarDecision:
    """What to answer and what to change. `response` is None when nothing must be sent."""

    response: Response | None
    upserts: tuple[Binding, ...] = ()
    removals: tuple[str, ...] = ()
    username: str | None = None
    auth_failed: bool = False
    note: str = ""
    bindings: tuple[Binding, ...] = ()


def stamped_vias(values: list[str], via: Via, source: Source) -> list[str]:
    """The Via values of the answer: the top one (`via`, parsed from `values[0]`) with
    `received` and `rport` set from `source` (RFC 3261 §18.2.1, RFC 3581).

    A top Via written as `str(via)` writes it (one element, upper-case transport, port
    without leading zeros, lower-case parameter names each once, plain values) and a
    plain source host: stamped in its text, the parameters kept in their places (what
    `stamped_vias_general` gives, a property test holds them equal)."""
    first = values[0]
    params = via.params
    host = source.host
    if (
        _CANONICAL_VIA_RE.fullmatch(first) is None
        or first.count(";") != len(params)
        or _PLAIN_HOST_RE.fullmatch(host) is None
    ):
        return stamped_vias_general(values, via, source)
    rport = "rport" in params
    if not rport and via.host.strip("[]").lower() == host.lower():
        return values  # nothing to stamp: the text is the answer's
    if not rport and "received" not in params:
        return [f"{first};received={host}", *values[1:]]
    pieces = first.split(";")
    for index in range(1, len(pieces)):
        name = pieces[index].partition("=")[0]
        if name == "rport":
            pieces[index] = f"rport={source.port}"
        elif name == "received":
            pieces[index] = f"received={host}"
    if "received" not in params:
        pieces.append(f"received={host}")
    return [";".join(pieces), *values[1:]]


def stamped_vias_general(values: list[str], via: Via, source: Source) -> list[str]:
    """`stamped_vias` for any Via: its parameters stamped and written again."""
    params = dict(via.params)
    if "rport" in params:
        params["rport"] = str(source.port)
    if "rport" in params or via.host.strip("[]").lower() != source.host.lower():
        params["received"] = source.host
    stamped = str(Via(via.transport, via.host, via.port, params))
    first = values[0]
    if "," in first:  # more than one Via in the first header line
        stamped = ", ".join([stamped, *split_list(first)[1:]])
    return [stamped, *values[1:]]
