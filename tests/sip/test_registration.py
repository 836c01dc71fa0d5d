"""The REGISTER client flow against a scripted registrar, on a fake clock."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from trunkline.sip.digest import parse_authorization, verify_authorization
from trunkline.sip.errors import SipParseError, SipStateError
from trunkline.sip.message import Headers, Request, Response, parse_datagram
from trunkline.sip.policy import Outcome
from trunkline.sip.registration import (
    Flow,
    LineConfig,
    Registered,
    Registration,
    RegistrationFailed,
    RegistrationOutput,
    Unregistered,
)
from trunkline.sip.transaction import Timers, Transmit

UDP = Flow("UDP", "10.0.0.5", 5060)
TCP = Flow("TCP", "10.0.0.5", 40000)
CONFIG = LineConfig(
    domain="sip.example.com",
    login="alice",
    password="secret",
    contact_user="reg7",
    expires=300,
    user_agent="Trunkline-test",
)
CHALLENGE = 'Digest realm="example.com", nonce="{nonce}", qop="auth", algorithm=MD5, opaque="op"'


def _registration(config: LineConfig = CONFIG, **kwargs: object) -> Registration:
    counter = itertools.count(1)
    return Registration(
        config,
        token=lambda: f"tok{next(counter)}",
        cnonce_factory=lambda: "cnonce",
        **kwargs,  # type: ignore[arg-type]
    )


def _sent(outputs: Sequence[RegistrationOutput]) -> Request:
    (output,) = outputs
    assert isinstance(output, Transmit)
    request = parse_datagram(output.data)
    assert isinstance(request, Request)
    return request


def _answer(
    request: Request, code: int, reason: str = "Reason", extra: Sequence[tuple[str, str]] = ()
) -> Response:
    headers = Headers()
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.get_all(name):
            headers.add(name, value)
    for name, value in extra:
        headers.add(name, value)
    return Response(code, reason, headers)


def _challenge(
    request: Request, nonce: str = "n1", stale: bool = False, code: int = 401
) -> Response:
    value = CHALLENGE.format(nonce=nonce) + (", stale=true" if stale else "")
    header = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
    return _answer(request, code, "Unauthorized", [(header, value)])


def _ok(request: Request, extra: Sequence[tuple[str, str]] = ()) -> Response:
    return _answer(request, 200, "OK", extra)


def test_register_builds_rfc3261_request() -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    assert request.method == "REGISTER"
    assert request.uri == "sip:sip.example.com"
    via = request.vias[0]
    assert (via.transport, via.host, via.port) == ("UDP", "10.0.0.5", 5060)
    assert via.branch == "z9hG4bKtok3"
    assert "rport" in via.params
    assert request.headers.get("Max-Forwards") == "70"
    assert request.from_address.uri == "sip:alice@sip.example.com"
    assert request.from_address.tag == registration.from_tag == "tok2"
    assert request.to_address.uri == "sip:alice@sip.example.com"
    assert request.call_id == registration.call_id == "tok1"
    assert request.cseq == (1, "REGISTER")
    assert [c.uri for c in request.contacts] == ["sip:reg7@10.0.0.5:5060"]
    assert request.headers.get("Expires") == "300"
    assert request.headers.get("User-Agent") == "Trunkline-test"
    assert request.headers.get("Route") is None
    assert request.headers.get("Authorization") is None
    assert registration.busy


def test_register_over_tcp_with_proxy_ipv6_and_port() -> None:
    config = LineConfig(
        domain="sip.example.com:5080",
        login="bob",
        password="pw",
        outbound_proxy="proxy.example.com",
    )
    registration = _registration(config, call_id="fixed", from_tag="tag", cseq=41)
    request = _sent(registration.register(Flow("TLS", "2001:db8::5", 5061), 0.0))
    assert request.uri == "sip:sip.example.com:5080"
    assert request.to_address.uri == "sip:bob@sip.example.com"
    assert request.headers.get(
        "Via",
    ).startswith("SIP/2.0/TLS [2001:db8::5]:5061;")  # type: ignore[union-attr]
    assert request.headers.get("Route") == "<sip:proxy.example.com;lr>"
    assert request.contacts[0].uri == "sip:trunkline@[2001:db8::5]:5061;transport=tls"
    assert (request.call_id, request.from_address.tag, request.cseq[0]) == ("fixed", "tag", 42)
    assert request.headers.get("User-Agent") is None


def test_register_200_reports_granted_from_matching_contact() -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    response = _ok(
        request,
        [
            ("Contact", "<sip:other@1.1.1.1>;expires=999"),
            ("Contact", "<sip:reg7@10.0.0.5:5060>;expires=120"),
            ("Expires", "600"),
        ],
    )
    assert registration.receive(response, 0.1) == [
        Registered(120, 200, "OK", "sip:reg7@10.0.0.5:5060")
    ]
    assert not registration.busy
    assert registration.get_timer() is None


@pytest.mark.parametrize(
    ("extra", "granted"),
    [
        ([("Contact", "<sip:other@1.1.1.1>;expires=999"), ("Expires", "600")], 600),
        ([("Contact", "<sip:reg7@10.0.0.5:5060>;expires=0"), ("Expires", "90")], 90),
        ([("Contact", "<sip:reg7@10.0.0.5:5060>;expires=abc"), ("Expires", "90")], 90),
        ([("Contact", "<sip:reg7@10.0.0.5:5060>")], 300),
        ([("Contact", "<broken"), ("Expires", "45")], 45),
        ([("Expires", "junk")], 300),
        ([], 300),
    ],
)
def test_register_200_granted_fallbacks(extra: list[tuple[str, str]], granted: int) -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    (event,) = registration.receive(_ok(request, extra), 0.1)
    assert isinstance(event, Registered)
    assert event.granted == granted


def test_register_401_retries_once_with_credentials_then_succeeds() -> None:
    registration = _registration()
    first = _sent(registration.register(UDP, 0.0))
    second = _sent(registration.receive(_challenge(first), 0.1))
    assert second.call_id == first.call_id
    assert second.from_address.tag == first.from_address.tag
    assert second.cseq == (2, "REGISTER")
    assert second.vias[0].branch != first.vias[0].branch
    credentials = parse_authorization(second.headers.get("Authorization") or "")
    assert (credentials.username, credentials.uri, credentials.nc, credentials.opaque) == (
        "alice",
        "sip:sip.example.com",
        "00000001",
        "op",
    )
    assert verify_authorization(credentials, method="REGISTER", password="secret")
    (event,) = registration.receive(_ok(second), 0.2)
    assert isinstance(event, Registered)


def test_register_auth_user_used_as_digest_username() -> None:
    registration = _registration(LineConfig("h", "alice", "pw", auth_user="auth-id"))
    first = _sent(registration.register(UDP, 0.0))
    second = _sent(registration.receive(_challenge(first), 0.1))
    assert parse_authorization(second.headers.get("Authorization") or "").username == "auth-id"


@pytest.mark.parametrize("nonce", ["n1", "n2"], ids=["same nonce", "new nonce"])
def test_register_second_challenge_after_fresh_credentials_is_auth_failure(nonce: str) -> None:
    registration = _registration()
    first = _sent(registration.register(UDP, 0.0))
    second = _sent(registration.receive(_challenge(first, "n1"), 0.1))
    (event,) = registration.receive(_challenge(second, nonce), 0.2)
    assert event == RegistrationFailed(401, "Unauthorized", Outcome.AUTH)
    assert not registration.busy
    third = _sent(registration.register(UDP, 10.0))
    assert third.headers.get("Authorization") is None


def test_register_stale_challenge_retries_without_failure() -> None:
    registration = _registration()
    first = _sent(registration.register(UDP, 0.0))
    second = _sent(registration.receive(_challenge(first, "n1"), 0.1))
    third = _sent(registration.receive(_challenge(second, "n2", stale=True), 0.2))
    assert parse_authorization(third.headers.get("Authorization") or "").nonce == "n2"
    (event,) = registration.receive(_ok(third), 0.3)
    assert isinstance(event, Registered)


def test_register_stops_after_three_challenge_rounds() -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    request = _sent(registration.receive(_challenge(request, "n1"), 0.1))
    request = _sent(registration.receive(_challenge(request, "n2", stale=True), 0.2))
    request = _sent(registration.receive(_challenge(request, "n3", stale=True), 0.3))
    (event,) = registration.receive(_challenge(request, "n4", stale=True), 0.4)
    assert isinstance(event, RegistrationFailed)
    assert event.outcome is Outcome.AUTH


def test_register_407_uses_proxy_authorization() -> None:
    registration = _registration()
    first = _sent(registration.register(UDP, 0.0))
    second = _sent(registration.receive(_challenge(first, code=407), 0.1))
    assert second.headers.get("Authorization") is None
    assert parse_authorization(second.headers.get("Proxy-Authorization") or "").nonce == "n1"
    third = _sent(registration.receive(_challenge(second, "w1"), 0.2))
    assert third.headers.get("Proxy-Authorization") is not None
    assert third.headers.get("Authorization") is not None
    (event,) = registration.receive(_ok(third), 0.3)
    assert isinstance(event, Registered)


@pytest.mark.parametrize(
    "extra",
    [
        [("WWW-Authenticate", 'Digest realm="r", nonce="n", algorithm=SHA-1')],
        [("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth-int"')],
        [("WWW-Authenticate", 'Digest realm="unterminated')],
        [],
    ],
    ids=["unknown algorithm", "auth-int only", "malformed", "no challenge"],
)
def test_register_unanswerable_challenge_is_auth_failure(extra: list[tuple[str, str]]) -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    (event,) = registration.receive(_answer(request, 401, "Unauthorized", extra), 0.1)
    assert event == RegistrationFailed(401, "Unauthorized", Outcome.AUTH)


def test_register_prefers_sha256_when_offered() -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    response = _answer(
        request,
        401,
        "Unauthorized",
        [
            ("WWW-Authenticate", 'Digest realm="r", nonce="md5", algorithm=MD5, qop="auth"'),
            ("WWW-Authenticate", 'Digest realm="r", nonce="sha", algorithm=SHA-256, qop="auth"'),
        ],
    )
    retry = _sent(registration.receive(response, 0.1))
    credentials = parse_authorization(retry.headers.get("Authorization") or "")
    assert (credentials.algorithm, credentials.nonce) == ("SHA-256", "sha")


def test_register_423_retries_with_min_expires_keeping_credentials() -> None:
    registration = _registration()
    first = _sent(registration.register(UDP, 0.0))
    second = _sent(registration.receive(_challenge(first), 0.1))
    too_brief = _answer(second, 423, "Interval Too Brief", [("Min-Expires", "600")])
    third = _sent(registration.receive(too_brief, 0.2))
    assert third.headers.get("Expires") == "600"
    assert third.cseq[0] == 3
    assert parse_authorization(third.headers.get("Authorization") or "").nc == "00000002"
    # A challenge now is a new one (the credentials were accepted before the 423).
    fourth = _sent(registration.receive(_challenge(third, "n2"), 0.3))
    (event,) = registration.receive(_ok(fourth), 0.4)
    assert event == Registered(600, 200, "OK", "sip:reg7@10.0.0.5:5060")
    refresh = _sent(registration.register(UDP, 300.0))
    assert refresh.headers.get("Expires") == "600"


@pytest.mark.parametrize(
    "extra",
    [[], [("Min-Expires", "junk")], [("Min-Expires", "300")], [("Min-Expires", "100")]],
    ids=["missing", "malformed", "equal", "lower"],
)
def test_register_423_without_usable_min_expires_fails_permanent(
    extra: list[tuple[str, str]],
) -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    (event,) = registration.receive(_answer(request, 423, "Interval Too Brief", extra), 0.1)
    assert event == RegistrationFailed(423, "Interval Too Brief", Outcome.PERMANENT)


def test_register_second_423_fails_permanent() -> None:
    registration = _registration()
    first = _sent(registration.register(UDP, 0.0))
    second = _sent(
        registration.receive(_answer(first, 423, "Brief", [("Min-Expires", "600")]), 0.1)
    )
    (event,) = registration.receive(_answer(second, 423, "Brief", [("Min-Expires", "900")]), 0.2)
    assert event == RegistrationFailed(423, "Brief", Outcome.PERMANENT)


def test_refresh_authenticates_preemptively_and_accepts_new_challenge() -> None:
    registration = _registration()
    first = _sent(registration.register(UDP, 0.0))
    second = _sent(registration.receive(_challenge(first, "n1"), 0.1))
    registration.receive(_ok(second), 0.2)
    refresh = _sent(registration.register(UDP, 150.0))
    credentials = parse_authorization(refresh.headers.get("Authorization") or "")
    assert (credentials.nonce, credentials.nc) == ("n1", "00000002")
    retry = _sent(registration.receive(_challenge(refresh, "n2"), 150.1))
    assert parse_authorization(retry.headers.get("Authorization") or "").nonce == "n2"
    (event,) = registration.receive(_ok(retry), 150.2)
    assert isinstance(event, Registered)


@pytest.mark.parametrize(
    ("code", "extra", "expected"),
    [
        (403, [], RegistrationFailed(403, "Reason", Outcome.PERMANENT)),
        (404, [], RegistrationFailed(404, "Reason", Outcome.PERMANENT)),
        (503, [("Retry-After", "30")], RegistrationFailed(503, "Reason", Outcome.TEMPORARY, 30)),
        (503, [("Retry-After", "soon")], RegistrationFailed(503, "Reason", Outcome.TEMPORARY)),
        (302, [], RegistrationFailed(302, "Reason", Outcome.PERMANENT)),
        (600, [], RegistrationFailed(600, "Reason", Outcome.TEMPORARY)),
    ],
)
def test_register_final_failure_classified(
    code: int, extra: list[tuple[str, str]], expected: RegistrationFailed
) -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    assert registration.receive(_answer(request, code, "Reason", extra), 0.1) == [expected]


def test_register_reason_trimmed_to_255() -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    (event,) = registration.receive(_answer(request, 403, "x" * 300), 0.1)
    assert isinstance(event, RegistrationFailed)
    assert len(event.reason) == 255


def test_register_timer_f_reports_408() -> None:
    registration = _registration(timers=Timers(t1=0.05))
    registration.register(UDP, 0.0)
    transmits = 0
    events: list[RegistrationOutput] = []
    while (deadline := registration.get_timer()) is not None:
        for output in registration.handle_timer(deadline):
            if isinstance(output, Transmit):
                transmits += 1
            else:
                events.append(output)
    assert transmits == 6
    assert events == [RegistrationFailed(408, "Request Timeout", Outcome.TEMPORARY)]
    assert not registration.busy


def test_register_provisional_and_stray_responses_ignored() -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    assert registration.receive(_answer(request, 100, "Trying"), 0.1) == []
    stray = _ok(request)
    stray.headers.set("Via", "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKold")
    assert registration.receive(stray, 0.2) == []
    assert registration.busy


def test_idle_registration_ignores_inputs() -> None:
    registration = _registration()
    assert registration.receive(Response(200, "OK"), 0.0) == []
    assert registration.handle_timer(100.0) == []
    assert registration.get_timer() is None
    assert registration.handle_transport_error("Connection refused") == []
    registration.cancel()


def test_transport_error_fails_attempt_with_503() -> None:
    registration = _registration()
    registration.register(TCP, 0.0)
    assert registration.handle_transport_error("Connection refused") == [
        RegistrationFailed(503, "Connection refused", Outcome.TEMPORARY)
    ]
    assert not registration.busy


def test_cancel_abandons_attempt_silently() -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    registration.cancel()
    assert not registration.busy
    assert registration.receive(_ok(request), 0.1) == []


def test_register_while_busy_raises() -> None:
    registration = _registration()
    registration.register(UDP, 0.0)
    with pytest.raises(SipStateError):
        registration.register(UDP, 0.1)
    with pytest.raises(SipStateError):
        registration.reconfigure(CONFIG)


def test_unregister_sends_expires_zero_and_reports_unregistered() -> None:
    registration = _registration()
    request = _sent(registration.unregister(UDP, 0.0))
    assert request.headers.get("Expires") == "0"
    assert registration.receive(_ok(request), 0.1) == [Unregistered(200, "OK")]


def test_clear_sends_wildcard_contact_with_credentials_then_registers_own() -> None:
    registration = _registration()
    first = _sent(registration.clear(UDP, 0.0))
    assert (first.headers.get("Contact"), first.headers.get("Expires")) == ("*", "0")
    second = _sent(registration.receive(_challenge(first), 0.1))
    assert second.headers.get("Contact") == "*" and second.headers.get("Authorization")
    assert registration.receive(_ok(second), 0.2) == [Unregistered(200, "OK")]
    third = _sent(registration.register(UDP, 0.3))
    assert third.headers.get("Contact") == "<sip:reg7@10.0.0.5:5060>"
    assert third.headers.get("Expires") == "300" and third.cseq == (3, "REGISTER")


def test_clear_refused_fails_with_the_code() -> None:
    registration = _registration()
    first = _sent(registration.clear(UDP, 0.0))
    (event,) = registration.receive(_answer(first, 400, "Bad Request"), 0.1)
    assert isinstance(event, RegistrationFailed) and event.status_code == 400
    assert not registration.busy


def test_unregister_423_fails() -> None:
    registration = _registration()
    request = _sent(registration.unregister(UDP, 0.0))
    (event,) = registration.receive(_answer(request, 423, "Brief", [("Min-Expires", "600")]), 0.1)
    assert isinstance(event, RegistrationFailed)


def test_reconfigure_invalid_domain_raises() -> None:
    with pytest.raises(SipParseError):
        _registration(LineConfig("bad domain", "alice", "pw"))


def test_reconfigure_keeps_dialog_identity_and_forgets_auth() -> None:
    registration = _registration()
    first = _sent(registration.register(UDP, 0.0))
    second = _sent(registration.receive(_challenge(first), 0.1))
    registration.receive(_ok(second), 0.2)
    registration.reconfigure(LineConfig("other.example.com", "carol", "pw2"))
    request = _sent(registration.register(UDP, 1.0))
    assert request.call_id == first.call_id
    assert request.from_address.tag == first.from_address.tag
    assert request.cseq[0] == 3
    assert request.headers.get("Authorization") is None
    assert request.uri == "sip:other.example.com"


@pytest.mark.parametrize(
    ("via_params", "public"),
    [
        (";received=203.0.113.7;rport=40123", "sip:reg7@203.0.113.7:40123"),
        (";received=203.0.113.7", "sip:reg7@203.0.113.7:5060"),
        (";rport=40123", "sip:reg7@10.0.0.5:40123"),
    ],
)
def test_register_nat_rewrites_contact_once(via_params: str, public: str) -> None:
    registration = _registration()
    request = _sent(registration.register(UDP, 0.0))
    response = _ok(request)
    response.headers.set("Via", str(request.vias[0]) + via_params)
    rewrite = _sent(registration.receive(response, 0.1))
    assert rewrite.cseq[0] == 2
    assert [(c.uri, c.params) for c in rewrite.contacts] == [
        (public, {}),
        ("sip:reg7@10.0.0.5:5060", {"expires": "0"}),
    ]
    assert registration.public_address is not None
    again = _ok(rewrite)
    again.headers.set("Via", str(rewrite.vias[0]) + ";received=198.51.100.1;rport=1")
    (event,) = registration.receive(again, 0.2)
    assert event == Registered(300, 200, "OK", public)
    refresh = _sent(registration.register(UDP, 150.0))
    assert [c.uri for c in refresh.contacts] == [public]
    other_flow = _sent_after_cancel(registration, Flow("UDP", "10.0.0.6", 5060))
    assert [c.uri for c in other_flow.contacts] == ["sip:reg7@10.0.0.6:5060"]


def _sent_after_cancel(registration: Registration, flow: Flow) -> Request:
    registration.cancel()
    return _sent(registration.register(flow, 200.0))


@pytest.mark.parametrize(
    ("config", "via_params"),
    [
        (CONFIG, ""),
        (CONFIG, ";received=10.0.0.5;rport=5060"),
        (
            LineConfig("h", "alice", "pw", contact_user="reg7", rewrite_contact=False),
            ";received=1.2.3.4",
        ),
    ],
    ids=["no nat info", "same address", "rewrite disabled"],
)
def test_register_without_nat_change_registers_directly(
    config: LineConfig, via_params: str
) -> None:
    registration = _registration(config)
    request = _sent(registration.register(UDP, 0.0))
    response = _ok(request)
    response.headers.set("Via", str(request.vias[0]) + via_params)
    (event,) = registration.receive(response, 0.1)
    assert isinstance(event, Registered)
    assert event.contact == "sip:reg7@10.0.0.5:5060"
