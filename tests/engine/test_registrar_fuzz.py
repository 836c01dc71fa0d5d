"""Hostile input to the office registrar: no crash, bounded memory, no unauthenticated change."""

from __future__ import annotations

import asyncio
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trunkline.domain.lines import LineType, OfficeBinding, SipLine
from trunkline.engine import registrar as registrar_module
from trunkline.engine.registrar import RegistrarServer
from trunkline.engine.transport import DatagramEndpoint
from trunkline.sip.errors import SipParseError
from trunkline.sip.message import Request, parse_datagram
from trunkline.sip.registrar import Source

LINE = SipLine(
    portal_id=1,
    line_id=7,
    config_id=7,
    app_id="",
    type=LineType.OFFICE,
    title="",
    server="pbx",
    login="l",
    password=None,
    incoming_server="office.example",
    incoming_login="sip7",
    incoming_password="0123456789abcdef0123456789abcdef",
)


class FakeRegistrations:
    """Bindings in memory; counts writes."""

    def __init__(self) -> None:
        self.rows: dict[str, OfficeBinding] = {}
        self.writes = 0
        self.lookups = 0

    async def office_lines(self, login: str, host: str) -> list[tuple[SipLine, str]]:
        self.lookups += 1
        return [(LINE, "MD5")] if login == LINE.incoming_login else []

    async def bindings(self, portal_id: int, config_id: int, *, now: float | None = None):
        return list(self.rows.values())

    async def apply_bindings(self, portal_id, config_id, upserts, removals) -> None:
        self.writes += 1
        for contact in removals:
            self.rows.pop(contact, None)
        for binding in upserts:
            self.rows[binding.contact] = binding

    async def delete_expired(self, now: float) -> int:
        return 0

    async def office_algorithms(self) -> list[tuple[str, str, str]]:
        return []


def server(store: FakeRegistrations) -> RegistrarServer:
    return RegistrarServer(store, secret=b"f" * 32, wall=time.time)  # type: ignore[arg-type]


TEMPLATE = (
    "REGISTER {uri} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK{branch};rport\r\n"
    "From: <sip:sip7@office.example>;tag=a\r\n"
    "To: <sip:{to}@office.example>\r\n"
    "Call-ID: {call_id}\r\n"
    "CSeq: {cseq} REGISTER\r\n"
    "Contact: {contact}\r\n"
    "Expires: {expires}\r\n"
    "{extra}"
    "Content-Length: 0\r\n\r\n"
)

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=80,
)
auth_values = st.one_of(
    text,
    st.builds(
        lambda user, nonce, response, extra: (
            f'Digest username="{user}", realm="office.example", nonce="{nonce}", '
            f'uri="sip:office.example", response="{response}", qop=auth, nc=00000001, '
            f'cnonce="x"{extra}'
        ),
        st.sampled_from(["sip7", "sip8", "", "sip7\\"]),
        st.one_of(text, st.just("65f0c1a2.0011223344556677.00112233445566778899aabb")),
        st.text(alphabet="0123456789abcdef", max_size=40),
        st.sampled_from(["", ", algorithm=MD5", ", algorithm=SHA-256", ', opaque="x"', ",,"]),
    ),
)


@st.composite
def hostile_requests(draw) -> bytes:
    extra = ""
    if draw(st.booleans()):
        extra += f"Authorization: {draw(auth_values)}\r\n"
    if draw(st.booleans()):
        extra += f"{draw(st.sampled_from(['X-A', 'v', 'm', 'Expires', 'Max-Forwards']))}: {draw(text)}\r\n"
    values = {
        "uri": draw(st.sampled_from(["sip:office.example", "sip:x", "sips:[::1]:5", "tel:1"])),
        "branch": draw(st.text(alphabet="abc123", min_size=1, max_size=8)),
        "to": draw(st.sampled_from(["sip7", "sip8", "", "*"])),
        "call_id": draw(st.one_of(st.just("c1"), text)),
        "cseq": draw(st.one_of(st.integers(-5, 2**40).map(str), text)),
        "contact": draw(
            st.one_of(st.just("<sip:sip7@192.0.2.9:5060>"), st.just("*"), text, st.just("<" * 50))
        ),
        "expires": draw(st.one_of(st.integers(-1, 10**12).map(str), text)),
        "extra": extra,
    }
    data = TEMPLATE.format(**values).encode("utf-8", "surrogatepass")
    cut = draw(st.integers(0, len(data)))
    return data if draw(st.booleans()) else data[:cut]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(hostile_requests(), st.binary(max_size=300)), min_size=1, max_size=5))
def test_hostile_messages_never_crash_nor_change_state(messages):
    store = FakeRegistrations()

    async def scenario() -> None:
        registrar = server(store)
        for data in messages:
            try:
                message = parse_datagram(data)
            except SipParseError:
                continue
            if isinstance(message, Request):
                decision = await registrar.decide(message, Source("192.0.2.9", 5060))
                if decision is not None and decision.response is not None:
                    assert decision.response.status_code in (200, 400, 401, 403, 405, 423, 500)
        assert store.writes == 0 and store.rows == {}
        assert len(registrar._replay_guard) == 0

    asyncio.run(scenario())


def test_datagram_flood_keeps_memory_bounded(monkeypatch):
    monkeypatch.setattr(registrar_module, "MAX_REALMS", 8)
    store = FakeRegistrations()

    async def scenario() -> None:
        registrar = server(store)
        sent: list[bytes] = []
        endpoint = DatagramEndpoint(registrar._datagram)
        endpoint.send = lambda data, addr: sent.append(data)  # type: ignore[method-assign]
        registrar._udp.append(endpoint)
        for n in range(3000):
            raw = TEMPLATE.format(
                uri=f"sip:realm{n}.example",
                branch=f"b{n}",
                to="sip7",
                call_id=f"c{n}",
                cseq="1",
                contact="<sip:sip7@192.0.2.9>",
                expires="60",
                extra="",
            )
            endpoint.datagram_received(raw.encode(), (f"192.0.2.{n % 250}", 5060))
            endpoint.datagram_received(b"\x00garbage" * (n % 7), ("192.0.2.1", 5060))
            endpoint.datagram_received(b"\r\n\r\n", ("192.0.2.1", 5060))
            if n % 100 == 0:
                await asyncio.sleep(0)
        while registrar._tasks:
            await asyncio.sleep(0.001)
        assert len(registrar._registrars) <= 8
        assert len(registrar._table) <= 10_000
        assert len(sent) == 3000 and all(b" 401 " in s.split(b"\r\n")[0] + b" " for s in sent)
        assert store.writes == 0 and store.lookups == 0  # challenges cost no query

    asyncio.run(scenario())


URIS = st.one_of(
    st.sampled_from(
        ["sip:a.example", "sip:A.Example:5060", "sip:b.example", "sips:a.example", "x", ""]
    ),
    st.text(max_size=20),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(URIS, min_size=1, max_size=12), st.booleans())
def test_registrar_for_keeps_the_realm_of_its_uri(uris, fixed):
    """The last Request-URI's realm is kept (engine/registrar.registrar_for): every request
    still gets the registrar of its own URI's realm (or the fixed one), as parsed anew."""
    from trunkline.sip.headers import parse_uri

    registrar = server(FakeRegistrations())
    if fixed:
        registrar.realm = "fixed.example"
    for uri in uris:
        request = Request("REGISTER", uri)
        try:
            realm = parse_uri(uri).host.lower()[:255]
        except SipParseError:
            realm = "trunkline"
        chosen = registrar.registrar_for(request)
        assert chosen.config.realm == ("fixed.example" if fixed else realm)
        assert chosen is registrar._registrars[chosen.config.realm]
        assert next(reversed(registrar._registrars)) == chosen.config.realm  # the newest
