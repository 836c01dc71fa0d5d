"""The office-PBX registrar core: authentication order, bindings, and our client against it."""

from __future__ import annotations

import dataclasses
import hmac
import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.sip import registrar as registrar_module
from trunkline.sip.digest import (
    Challenge,
    DigestClient,
    compute_ha1,
    parse_challenges,
)
from trunkline.sip.errors import SipParseError
from trunkline.sip.message import Headers, Request, Response, parse_datagram
from trunkline.sip.registrar import (
    Account,
    Binding,
    Registrar,
    RegistrarConfig,
    RegistrarDecision,
    Source,
)
from trunkline.sip.registration import Flow, LineConfig, Registered, Registration
from trunkline.sip.transaction import Transmit

REALM = "pbx.example.com"
SOURCE = Source("198.51.100.7", 5062, "UDP")
ACCOUNT = Account("sip7", password="pbxsecret")
NOW = 1_700_000_000.0


def _registrar(**changes: object) -> Registrar:
    config = dataclasses.replace(RegistrarConfig(realm=REALM), **changes)  # type: ignore[arg-type]
    return Registrar(config, b"secret", random_source=lambda n: bytes(n))


def _register(
    *,
    contacts: Sequence[str] = ("<sip:sip7@192.168.1.10:5060>",),
    expires: str | None = "120",
    cseq: int = 1,
    call_id: str = "call-1",
    user: str = "sip7",
    method: str = "REGISTER",
    uri: str = f"sip:{REALM}",
) -> Request:
    headers = Headers(
        [
            ("Via", f"SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK{cseq}x;rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{user}@{REALM}>;tag=ft"),
            ("To", f"<sip:{user}@{REALM}>"),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {method}"),
            ("User-Agent", "TestPBX"),
        ]
    )
    for contact in contacts:
        headers.add("Contact", contact)
    if expires is not None:
        headers.add("Expires", expires)
    return Request(method, uri, headers)


def _challenge_of(decision: RegistrarDecision) -> Challenge:
    assert decision.response is not None
    assert decision.response.status_code == 401
    values = decision.response.headers.get_all("WWW-Authenticate")
    assert len(values) == 1
    (challenge,) = parse_challenges(values)
    return challenge


def _with_auth(
    request: Request, challenge: Challenge, password: str = "pbxsecret", username: str = "sip7"
) -> Request:
    client = DigestClient(username, password, cnonce_factory=lambda: "cn")
    authorized = Request(request.method, request.uri, Headers(request.headers), request.body)
    authorized.headers.add(
        "Authorization", client.authorize(challenge, request.method, request.uri)
    )
    return authorized


def _authenticated(
    registrar: Registrar,
    request: Request,
    *,
    account: Account | None = ACCOUNT,
    bindings: Sequence[Binding] = (),
    now: float = NOW,
    password: str = "pbxsecret",
) -> RegistrarDecision:
    challenge = _challenge_of(registrar.handle(_register(), SOURCE, account, (), now))
    return registrar.handle(
        _with_auth(request, challenge, password), SOURCE, account, bindings, now
    )


def _status(decision: RegistrarDecision) -> int:
    assert decision.response is not None
    return decision.response.status_code


def _binding(
    contact: str, *, expires_at: float = NOW + 100, call_id: str = "call-1", cseq: int = 1
) -> Binding:
    return Binding(contact, expires_at, call_id, cseq, SOURCE)


# -- methods and basic validation --------------------------------------------------------


def test_handle_options_answers_200_with_stamped_via_and_tag() -> None:
    decision = _registrar().handle(_register(method="OPTIONS"), SOURCE, None, (), NOW)
    response = decision.response
    assert response is not None
    assert (response.status_code, response.headers.get("Allow")) == (200, "REGISTER, OPTIONS")
    via = response.vias[0]
    assert (via.received, via.rport) == ("198.51.100.7", 5062)
    assert response.to_address.tag is not None
    assert response.headers.get("Server") == "Trunkline"
    assert response.headers.get("Call-ID") == "call-1"


def test_handle_does_not_modify_callers_request() -> None:
    request = _register(method="OPTIONS")
    before = request.to_bytes()
    _registrar().handle(request, SOURCE, None, (), NOW)
    assert request.to_bytes() == before


def test_handle_other_method_answers_405() -> None:
    decision = _registrar().handle(_register(method="INVITE"), SOURCE, None, (), NOW)
    assert _status(decision) == 405
    assert decision.response is not None
    assert decision.response.headers.get("Allow") == "REGISTER, OPTIONS"


def test_handle_ack_and_missing_via_get_no_response() -> None:
    registrar = _registrar()
    assert registrar.handle(_register(method="ACK"), SOURCE, None, (), NOW).response is None
    request = _register()
    request.headers.remove("Via")
    assert registrar.handle(request, SOURCE, None, (), NOW).response is None


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Call-ID", None),
        ("From", None),
        ("To", "<sip:broken"),
        ("CSeq", "1 OPTIONS"),
        ("CSeq", None),
        ("Via", "junk"),
    ],
)
def test_handle_malformed_request_answers_400(header: str, value: str | None) -> None:
    request = _register()
    request.headers.remove(header)
    if value is not None:
        request.headers.add(header, value)
    assert _status(_registrar().handle(request, SOURCE, ACCOUNT, (), NOW)) == 400


@pytest.mark.parametrize(
    ("via", "source", "received", "rport"),
    [
        ("SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK1", SOURCE, None, None),
        ("SIP/2.0/UDP pbx.local;branch=z9hG4bK1", SOURCE, "198.51.100.7", None),
        ("SIP/2.0/UDP [2001:DB8::1];branch=z9hG4bK1", Source("2001:db8::1", 5060), None, None),
        (
            "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1;rport, SIP/2.0/UDP x",
            SOURCE,
            "198.51.100.7",
            5062,
        ),
    ],
)
def test_handle_stamps_received_and_rport(
    via: str, source: Source, received: str | None, rport: int | None
) -> None:
    request = _register(method="OPTIONS")
    request.headers.set("Via", via)
    request.headers.add("Via", "SIP/2.0/TCP second")
    decision = _registrar().handle(request, source, None, (), NOW)
    assert decision.response is not None
    vias = decision.response.vias
    assert (vias[0].received, vias[0].rport) == (received, rport)
    assert vias[-1].host == "second"


def test_handle_keeps_existing_to_tag_and_optional_server() -> None:
    request = _register(method="OPTIONS")
    request.headers.set("To", f"<sip:sip7@{REALM}>;tag=existing")
    decision = _registrar(server_name=None).handle(request, SOURCE, None, (), NOW)
    assert decision.response is not None
    assert decision.response.to_address.tag == "existing"
    assert decision.response.headers.get("Server") is None


def _derived_tag(secret: bytes, to: str) -> str:
    return hmac.digest(secret, to.encode(), "sha256").hex()[:16]


def test_to_tag_is_the_hmac_of_the_to_value_for_every_answer() -> None:
    # the challenge and the 200 carry the same tag; the kept tags are cleared when full
    registrar = _registrar()
    to = f"<sip:sip7@{REALM}>"
    tag = _derived_tag(b"secret", to)
    challenge = registrar.handle(_register(), SOURCE, ACCOUNT, (), NOW)
    assert challenge.response is not None
    assert challenge.response.headers.get("To") == f"{to};tag={tag}"
    ok = _authenticated(registrar, _register())
    assert ok.response is not None and ok.response.status_code == 200
    assert ok.response.headers.get("To") == f"{to};tag={tag}"
    for user in range(2 * registrar_module._TAGGED_KEPT + 3):
        request = _register(method="OPTIONS", user=f"u{user}")
        answer = registrar.handle(request, SOURCE, None, (), NOW).response
        expected = _derived_tag(b"secret", f"<sip:u{user}@{REALM}>")
        assert answer is not None and answer.to_address.tag == expected
    assert len(registrar._tagged) <= registrar_module._TAGGED_KEPT
    again = registrar.handle(_register(method="OPTIONS"), SOURCE, None, (), NOW).response
    assert again is not None and again.headers.get("To") == f"{to};tag={tag}"


def _added_one_by_one(registrar: Registrar, request: Request, vias: list[str]) -> Headers:
    """The answer's fields as `Headers.add` adds them (what `_response` must equal)."""
    headers = Headers()
    for value in vias:
        headers.add("Via", value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        for value in request.headers.get_all(name):
            if name == "To" and registrar._needs_tag(value):
                value = f"{value};tag={_derived_tag(b'secret', value)}"
            headers.add(name, value)
    if registrar.config.server_name:
        headers.add("Server", registrar.config.server_name)
    return headers


@pytest.mark.parametrize("server_name", ["Trunkline", None, ""])
@pytest.mark.parametrize(
    "changes",
    [
        [],
        [("To", '"Bob" <sip:sip7@pbx.example.com>;tag=x')],
        [("To", "sip:sip7@pbx.example.com"), ("To", "<sip:second@pbx.example.com>")],
        [("From", "<sip:a@b>;tag=1"), ("Call-ID", "c2"), ("CSeq", "9 REGISTER")],
        [("To", "<sip:broken")],
    ],
)
def test_response_fields_are_those_added_one_by_one(
    server_name: str | None, changes: list[tuple[str, str]]
) -> None:
    registrar = _registrar(server_name=server_name)
    request = _register()
    for name, value in changes:
        request.headers.add(name, value)
    for vias in (["SIP/2.0/UDP a;branch=z9hG4bK1"], ["SIP/2.0/UDP a, SIP/2.0/TCP b", "x"], []):
        answer = registrar._response(request, vias, 200, "OK")
        assert answer.headers == _added_one_by_one(registrar, request, vias)
        extra = [("Contact", "<sip:a@b>;expires=60"), ("Date", "Tue, 14 Nov 2023 22:13:20 GMT")]
        expected = _added_one_by_one(registrar, request, vias)
        for name, value in extra:
            expected.add(name, value)
        assert registrar._response(request, vias, 200, "OK", extra).headers == expected
        assert answer.to_bytes() == Response(200, "OK", answer.headers.copy()).to_bytes()
        assert answer.headers.get("To") == _added_one_by_one(registrar, request, vias).get("To")


@pytest.mark.parametrize("field", ["Via", "Server", "Contact"])
def test_response_refuses_cr_or_lf_as_headers_add_does(field: str) -> None:
    registrar = _registrar(server_name="Trunk\r\nline" if field == "Server" else "T")
    vias = ["SIP/2.0/UDP a;received=b\r\nX: y"] if field == "Via" else ["SIP/2.0/UDP a"]
    contact = "<sip:a\r\nX: y>;expires=1" if field == "Contact" else "<sip:a>;expires=1"
    with pytest.raises(SipParseError, match=f"CR or LF in the value of '{field}'"):
        registrar._response(_register(), vias, 200, "OK", [("Contact", contact)])
    with pytest.raises(SipParseError, match=f"CR or LF in the value of '{field}'"):
        _added_one_by_one(registrar, _register(), vias).add("Contact", contact)


def test_handle_malformed_to_gets_400_without_tag() -> None:
    request = _register()
    request.headers.set("To", "<sip:broken")
    decision = _registrar().handle(request, SOURCE, ACCOUNT, (), NOW)
    assert decision.response is not None
    assert decision.response.headers.get("To") == "<sip:broken"


def test_account_name_is_to_user() -> None:
    assert Registrar.account_name(_register()) == "sip7"
    request = _register()
    request.headers.set("To", "<tel:+123>")
    assert Registrar.account_name(request) is None


# -- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "algorithm"),
    [(None, "MD5"), (ACCOUNT, "MD5"), (Account("sip7", "pw", algorithm="SHA-256"), "SHA-256")],
)
def test_register_without_credentials_gets_one_challenge(
    account: Account | None, algorithm: str
) -> None:
    registrar = _registrar()
    decision = registrar.handle(_register(), SOURCE, account, (), NOW)
    challenge = _challenge_of(decision)
    assert (challenge.realm, challenge.algorithm, challenge.qop) == (REALM, algorithm, ("auth",))
    assert challenge.opaque == registrar.opaque
    assert not challenge.stale
    assert decision.upserts == ()
    assert not decision.auth_failed


def test_register_right_password_binds_contact() -> None:
    decision = _authenticated(_registrar(), _register(cseq=2))
    assert _status(decision) == 200
    (binding,) = decision.upserts
    assert binding == Binding(
        "sip:sip7@192.168.1.10:5060", NOW + 120, "call-1", 2, SOURCE, "TestPBX", None, None
    )
    assert decision.username == "sip7"
    assert decision.bindings == (binding,)
    assert decision.response is not None
    assert decision.response.headers.get_all("Contact") == [
        "<sip:sip7@192.168.1.10:5060>;expires=120"
    ]
    assert decision.response.headers.get("Date") == "Tue, 14 Nov 2023 22:13:20 GMT"


def test_register_with_stored_ha1_binds_contact() -> None:
    account = Account("sip7", ha1=compute_ha1("MD5", "sip7", REALM, "pbxsecret"))
    assert _status(_authenticated(_registrar(), _register(cseq=2), account=account)) == 200


@pytest.mark.parametrize(
    ("account", "password", "user"),
    [(ACCOUNT, "wrong", "sip7"), (None, "pbxsecret", "sip7"), (ACCOUNT, "pbxsecret", "sip8")],
    ids=["wrong password", "unknown user", "username differs from To"],
)
def test_register_bad_credentials_get_403_and_flag(
    account: Account | None, password: str, user: str
) -> None:
    registrar = _registrar()
    challenge = _challenge_of(registrar.handle(_register(), SOURCE, account, (), NOW))
    request = _with_auth(_register(cseq=2), challenge, password, username=user)
    decision = registrar.handle(request, SOURCE, account, (), NOW)
    assert _status(decision) == 403
    assert decision.auth_failed
    assert decision.upserts == ()
    assert len(registrar.replay_guard) == 0


def test_register_malformed_credentials_get_400() -> None:
    request = _register()
    request.headers.add("Authorization", 'Digest username="sip7"')
    assert _status(_registrar().handle(request, SOURCE, ACCOUNT, (), NOW)) == 400


def test_register_credentials_for_other_realm_get_challenge() -> None:
    challenge = Challenge("elsewhere", "n", qop=("auth",))
    request = _with_auth(_register(), challenge)
    _challenge_of(_registrar().handle(request, SOURCE, ACCOUNT, (), NOW))


@pytest.mark.parametrize("account", [None, ACCOUNT, Account("sip7", "pw", algorithm="SHA-256")])
def test_challenge_without_credentials_is_the_refusal_authenticate_raises(
    account: Account | None,
) -> None:
    # no Authorization header: refused without the raise, with what _authenticate raises
    # for credentials of no realm of ours (the same nonce: the same random source)
    request = _register()
    other = _with_auth(request, Challenge("elsewhere", "n", qop=("auth",)))
    plain = _registrar().handle(request, SOURCE, account, (), NOW)
    raised = _registrar().handle(other, SOURCE, account, (), NOW)
    assert plain == raised and plain.note == "challenge"
    assert plain.response is not None and raised.response is not None
    assert plain.response.to_bytes() == raised.response.to_bytes()


def test_register_forged_nonce_gets_fresh_challenge() -> None:
    request = _with_auth(_register(), Challenge(REALM, "1.2.3", qop=("auth",)))
    challenge = _challenge_of(_registrar().handle(request, SOURCE, ACCOUNT, (), NOW))
    assert not challenge.stale


def test_register_expired_nonce_with_right_password_gets_stale_challenge() -> None:
    registrar = _registrar()
    challenge = _challenge_of(registrar.handle(_register(), SOURCE, ACCOUNT, (), NOW))
    request = _with_auth(_register(cseq=2), challenge)
    assert _challenge_of(registrar.handle(request, SOURCE, ACCOUNT, (), NOW + 301)).stale
    wrong = _with_auth(_register(cseq=3), challenge, "wrong")
    assert _status(registrar.handle(wrong, SOURCE, ACCOUNT, (), NOW + 301)) == 403


def test_register_replayed_nc_gets_stale_challenge() -> None:
    registrar = _registrar()
    challenge = _challenge_of(registrar.handle(_register(), SOURCE, ACCOUNT, (), NOW))
    request = _with_auth(_register(cseq=2), challenge)
    assert _status(registrar.handle(request, SOURCE, ACCOUNT, (), NOW)) == 200
    replay = registrar.handle(request, SOURCE, ACCOUNT, (), NOW + 1)
    assert _challenge_of(replay).stale
    assert replay.upserts == ()


def test_register_invalid_nc_gets_400() -> None:
    registrar = _registrar()
    challenge = _challenge_of(registrar.handle(_register(), SOURCE, ACCOUNT, (), NOW))
    request = _with_auth(_register(cseq=2), challenge)
    value = request.headers.get("Authorization") or ""
    request.headers.set("Authorization", value.replace("nc=00000001", "nc=zz"))
    assert _status(registrar.handle(request, SOURCE, ACCOUNT, (), NOW)) == 400


def test_register_without_qop_forbidden_unless_allowed() -> None:
    for allow, expected in ((False, 403), (True, 200)):
        registrar = _registrar(allow_no_qop=allow)
        challenge = _challenge_of(registrar.handle(_register(), SOURCE, ACCOUNT, (), NOW))
        legacy = dataclasses.replace(challenge, qop=())
        request = _with_auth(_register(cseq=2), legacy)
        assert _status(registrar.handle(request, SOURCE, ACCOUNT, (), NOW)) == expected


def test_register_algorithm_other_than_accounts_gets_challenge() -> None:
    registrar = _registrar()
    account = Account("sip7", "pbxsecret", algorithm="SHA-256")
    challenge = _challenge_of(registrar.handle(_register(), SOURCE, account, (), NOW))
    downgraded = dataclasses.replace(challenge, algorithm="MD5")
    request = _with_auth(_register(cseq=2), downgraded)
    assert _challenge_of(registrar.handle(request, SOURCE, account, (), NOW)).algorithm == "SHA-256"


def test_register_digest_uri_mismatch_gets_400() -> None:
    registrar = _registrar()
    challenge = _challenge_of(registrar.handle(_register(), SOURCE, ACCOUNT, (), NOW))
    request = _with_auth(_register(cseq=2), challenge)
    request.uri = "sip:other.example.com"
    assert _status(registrar.handle(request, SOURCE, ACCOUNT, (), NOW)) == 400


@pytest.mark.parametrize(
    ("digest_uri", "request_uri", "expected"),
    [
        (f"sip:{REALM}:5080", f"sip:{REALM}", 200),  # sipp adds the port it sent to
        (f"sip:{REALM}", f"sip:{REALM}:5080", 400),
        (f"sip:{REALM}:5080;transport=tcp", f"sip:{REALM}", 400),
        ("sip:elsewhere.example:5080", f"sip:{REALM}", 400),
        ("not a uri", f"sip:{REALM}", 400),
    ],
)
def test_register_digest_uri_may_add_a_port(
    digest_uri: str, request_uri: str, expected: int
) -> None:
    registrar = _registrar()
    challenge = _challenge_of(registrar.handle(_register(), SOURCE, ACCOUNT, (), NOW))
    client = DigestClient("sip7", "pbxsecret", cnonce_factory=lambda: "cn")
    request = _register(cseq=2, uri=request_uri)
    request.headers.add("Authorization", client.authorize(challenge, "REGISTER", digest_uri))
    assert _status(registrar.handle(request, SOURCE, ACCOUNT, (), NOW)) == expected


# -- bindings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contacts", "expires", "expected"),
    [
        (["<sip:a@h>;expires=600"], "120", [("sip:a@h", 600)]),
        (["<sip:a@h>"], None, [("sip:a@h", 3600)]),
        (["<sip:a@h>"], "7200", [("sip:a@h", 3600)]),
        (["<sip:a@h>, <sip:b@h>;expires=90"], "60", [("sip:a@h", 60), ("sip:b@h", 90)]),
        (["<sip:a@h>", "<sip:a@h>;expires=90"], "60", [("sip:a@h", 90)]),
    ],
)
def test_register_binding_expiry(
    contacts: list[str], expires: str | None, expected: list[tuple[str, float]]
) -> None:
    decision = _authenticated(_registrar(), _register(contacts=contacts, expires=expires, cseq=2))
    assert _status(decision) == 200
    assert [(b.contact, b.expires_at - NOW) for b in decision.upserts] == expected


@pytest.mark.parametrize(
    ("contacts", "expires"),
    [(["<sip:a@h>;expires=30"], "120"), (["<sip:a@h>"], "59")],
)
def test_register_below_min_expires_gets_423(contacts: list[str], expires: str) -> None:
    decision = _authenticated(_registrar(), _register(contacts=contacts, expires=expires, cseq=2))
    assert _status(decision) == 423
    assert decision.response is not None
    assert decision.response.headers.get("Min-Expires") == "60"
    assert decision.upserts == ()


@pytest.mark.parametrize(
    ("contacts", "expires"),
    [
        (["<sip:a@h>;expires=soon"], "120"),
        (["<sip:a@h>"], "soon"),
        (["<sip:a@h"], "120"),
        (["*"], None),
        (["*"], "60"),
        (["*", "<sip:a@h>"], "0"),
    ],
)
def test_register_malformed_bindings_get_400(contacts: list[str], expires: str | None) -> None:
    decision = _authenticated(_registrar(), _register(contacts=contacts, expires=expires, cseq=2))
    assert _status(decision) == 400


def test_register_zero_expires_removes_existing_binding_only() -> None:
    existing = _binding("sip:sip7@192.168.1.10:5060", call_id="old", cseq=9)
    request = _register(
        contacts=["<sip:sip7@192.168.1.10:5060>", "<sip:gone@h>"], expires="0", cseq=2
    )
    decision = _authenticated(_registrar(), request, bindings=[existing])
    assert (decision.upserts, decision.removals) == ((), ("sip:sip7@192.168.1.10:5060",))
    assert decision.response is not None
    assert decision.response.headers.get_all("Contact") == []


def test_register_wildcard_removes_every_live_binding() -> None:
    bindings = [
        _binding("sip:a@h", call_id="x"),
        _binding("sip:b@h", cseq=1),
        _binding("sip:c@h", expires_at=NOW),
    ]
    request = _register(contacts=["*"], expires="0", cseq=2)
    decision = _authenticated(_registrar(), request, bindings=bindings)
    assert _status(decision) == 200
    assert decision.removals == ("sip:a@h", "sip:b@h")


def test_register_wildcard_out_of_order_gets_500() -> None:
    request = _register(contacts=["*"], expires="0", cseq=2)
    decision = _authenticated(_registrar(), request, bindings=[_binding("sip:a@h", cseq=5)])
    assert _status(decision) == 500
    assert decision.removals == ()


@pytest.mark.parametrize(
    ("call_id", "stored_cseq", "status"),
    [("call-1", 2, 500), ("call-1", 3, 500), ("call-1", 1, 200), ("other", 50, 200)],
)
def test_register_cseq_ordering_per_call_id(call_id: str, stored_cseq: int, status: int) -> None:
    existing = _binding("sip:a@h", call_id=call_id, cseq=stored_cseq)
    request = _register(contacts=["<sip:a@h>"], cseq=2)
    decision = _authenticated(_registrar(), request, bindings=[existing])
    assert _status(decision) == status


def test_register_query_lists_live_bindings_with_remaining_time() -> None:
    bindings = [
        _binding("sip:a@h", expires_at=NOW + 10.2),
        _binding("sip:old@h", expires_at=NOW - 1),
    ]
    decision = _authenticated(_registrar(), _register(contacts=[], cseq=2), bindings=bindings)
    assert decision.response is not None
    assert decision.response.headers.get_all("Contact") == ["<sip:a@h>;expires=11"]
    assert (decision.upserts, decision.removals) == ((), ())


def test_register_too_many_bindings_gets_403() -> None:
    bindings = [_binding(f"sip:{i}@h") for i in range(2)]
    decision = _authenticated(
        _registrar(max_bindings=2), _register(contacts=["<sip:new@h>"], cseq=2), bindings=bindings
    )
    assert _status(decision) == 403
    assert not decision.auth_failed


def test_register_stores_instance_and_reg_id() -> None:
    contact = '<sip:a@h;transport=tcp>;+sip.instance="<urn:uuid:1234>";reg-id=1'
    decision = _authenticated(_registrar(), _register(contacts=[contact], cseq=2))
    (binding,) = decision.upserts
    assert (binding.instance_id, binding.reg_id) == ("<urn:uuid:1234>", "1")


# -- our client against our registrar -------------------------------------------------------


def _exchange(
    registration: Registration,
    registrar: Registrar,
    outputs: list[object],
    now: float,
    account: Account,
) -> tuple[list[object], list[int], list[Binding]]:
    """Loop requests and responses until the client reports an outcome."""
    codes: list[int] = []
    bindings: list[Binding] = []
    while outputs and isinstance(outputs[0], Transmit):
        request = parse_datagram(outputs[0].data)
        assert isinstance(request, Request)
        decision = registrar.handle(request, Source("10.0.0.5", 5060), account, bindings, now)
        assert decision.response is not None
        codes.append(decision.response.status_code)
        bindings = [b for b in bindings if b.contact not in decision.removals] + list(
            decision.upserts
        )
        response = parse_datagram(decision.response.to_bytes())
        assert isinstance(response, Response)
        outputs = list(registration.receive(response, now))
    return outputs, codes, bindings


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_client_registers_refreshes_and_unregisters_against_registrar(algorithm: str) -> None:
    registrar = _registrar()
    account = Account("sip7", "pbxsecret", algorithm=algorithm)
    counter = itertools.count()
    registration = Registration(
        LineConfig(REALM, "sip7", "pbxsecret", contact_user="sip7", expires=30),
        token=lambda: f"t{next(counter)}",
    )
    flow = Flow("UDP", "10.0.0.5", 5060)
    outputs, codes, _ = _exchange(
        registration, registrar, list(registration.register(flow, NOW)), NOW, account
    )
    assert codes == [401, 423, 200]
    (event,) = outputs
    assert isinstance(event, Registered)
    assert event.granted == 60
    outputs, codes, _ = _exchange(
        registration, registrar, list(registration.register(flow, NOW + 30)), NOW + 30, account
    )
    assert codes == [200]
    outputs, codes, _ = _exchange(
        registration, registrar, list(registration.register(flow, NOW + 400)), NOW + 400, account
    )
    assert codes == [401, 200]
    outputs, codes, _ = _exchange(
        registration, registrar, list(registration.unregister(flow, NOW + 401)), NOW + 401, account
    )
    assert codes == [200]


def test_client_wrong_password_against_registrar_fails_once() -> None:
    registrar = _registrar()
    registration = Registration(
        LineConfig(REALM, "sip7", "wrong", contact_user="sip7", expires=120)
    )
    outputs, codes, _ = _exchange(
        registration,
        registrar,
        list(registration.register(Flow("UDP", "10.0.0.5", 5060), NOW)),
        NOW,
        ACCOUNT,
    )
    assert codes == [401, 403]
    assert [type(o).__name__ for o in outputs] == ["RegistrationFailed"]


# -- fuzz: hostile requests never raise and never bind without authentication ---------------

_hostile = st.builds(
    lambda contacts, expires, auth, method: (contacts, expires, auth, method),
    st.lists(
        st.one_of(st.text(max_size=30), st.sampled_from(["*", "<sip:a@h>", "<sip:a@h>;expires=0"])),
        max_size=3,
    ),
    st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["0", "60", "3600"])),
    st.one_of(
        st.none(),
        st.text(max_size=60),
        st.just(
            'Digest username="sip7", realm="pbx.example.com", nonce="1.2.3", uri="sip:pbx.example.com", response="00"'
        ),
    ),
    st.sampled_from(["REGISTER", "OPTIONS", "INVITE", "ACK"]),
)


@settings(max_examples=200, deadline=None)
@given(_hostile)
def test_handle_hostile_requests_never_bind_without_authentication(
    case: tuple[list[str], str | None, str | None, str],
) -> None:
    contacts, expires, auth, method = case
    request = _register(contacts=(), expires=None, method=method)
    try:
        for contact in contacts:
            request.headers.add("Contact", contact)
        if expires is not None:
            request.headers.add("Expires", expires)
        if auth is not None:
            request.headers.add("Authorization", auth)
    except SipParseError:  # a value with CR/LF cannot even be put on the wire
        return
    registrar = _registrar()
    decision = registrar.handle(request, SOURCE, ACCOUNT, [_binding("sip:a@h")], NOW)
    assert decision.upserts == ()
    assert decision.removals == ()
    assert len(registrar.replay_guard) == 0
    if decision.response is not None:
        assert decision.response.status_code in (200, 400, 401, 403, 405)


# -- pick: the same login in several portals ---------------------------------------------

_ACCOUNTS = [Account("sip7", password="first-one"), Account("sip7", password="pbxsecret")]


def _signed(password: str, realm: str = REALM) -> Request:
    registrar = _registrar()
    challenge = _challenge_of(registrar.handle(_register(), SOURCE, ACCOUNT, (), NOW))
    challenge = dataclasses.replace(challenge, realm=realm)
    return _with_auth(_register(cseq=2), challenge, password)


def test_pick_finds_the_account_whose_password_the_digest_answers() -> None:
    assert _registrar().pick(_signed("pbxsecret"), _ACCOUNTS) == 1
    assert _registrar().pick(_signed("first-one"), _ACCOUNTS) == 0


def test_pick_none_when_no_or_several_accounts_match() -> None:
    assert _registrar().pick(_signed("neither"), _ACCOUNTS) is None
    twins = [Account("sip7", password="pbxsecret")] * 2
    assert _registrar().pick(_signed("pbxsecret"), twins) is None


def test_pick_none_without_credentials_for_our_realm_or_with_bad_ones() -> None:
    assert _registrar().pick(_register(), _ACCOUNTS) is None
    assert _registrar().pick(_signed("pbxsecret", realm="elsewhere"), _ACCOUNTS) is None
    broken = _register()
    broken.headers.add("Authorization", "Digest nonsense")
    assert _registrar().pick(broken, _ACCOUNTS) is None


def test_pick_does_not_spend_the_nonce_count() -> None:
    registrar = _registrar()
    challenge = _challenge_of(registrar.handle(_register(), SOURCE, ACCOUNT, (), NOW))
    request = _with_auth(_register(cseq=2), challenge)
    assert registrar.pick(request, _ACCOUNTS) == 1
    assert _status(registrar.handle(request, SOURCE, ACCOUNT, (), NOW)) == 200


def test_bindings_and_decisions_compare_and_hash_by_value() -> None:
    # slotted, not frozen: still equal and hashed by their fields, and no attribute added
    first, second = _binding("sip:a@h"), _binding("sip:a@h")
    assert first == second and hash(first) == hash(second)
    assert first != _binding("sip:b@h")
    assert dataclasses.replace(first, cseq=2).cseq == 2
    with pytest.raises(AttributeError):
        first.extra = 1  # type: ignore[attr-defined]
    account = Account("sip7", "pw", algorithm="SHA-256")
    assert account == Account("sip7", "pw", None, "SHA-256")
    assert hash(account) == hash(Account("sip7", "pw", algorithm="SHA-256"))
    decision = RegistrarDecision(None, (first,), ("x",), note="n")
    assert decision == RegistrarDecision(None, (second,), ("x",), note="n")
    assert hash(decision) == hash(RegistrarDecision(None, (second,), ("x",), note="n"))


def test_account_name_is_kept_for_the_to_text() -> None:
    # asked twice a request (the engine, then the registrar): the second is the first's,
    # and a To changed since is read anew
    request = _register(user="sip9")
    assert Registrar.account_name(request) == "sip9"
    assert request.__dict__["_account_name"] == ("<sip:sip9@pbx.example.com>", "sip9")
    assert Registrar.account_name(request) == "sip9"
    request.headers.set("To", "<sip:other@pbx.example.com>")
    assert Registrar.account_name(request) == "other"
    request.headers.remove("To")
    assert Registrar.account_name(request) is None


@settings(max_examples=200)
@given(
    st.sampled_from(["sip:h", "sip:h:5060", "sip:H", "sip:u@h", "sips:h", "sip:h;lr", "tel:1"]),
    st.sampled_from(["sip:h", "sip:h:5060", "sip:h:5070", "sip:u@h", "sip:h;x=1", "sip:bad@"]),
)
def test_same_target_kept_answers_as_computed(digest_uri: str, request_uri: str) -> None:
    from trunkline.sip.registrar import _same_target

    computed = _same_target.__wrapped__(digest_uri, request_uri)
    assert _same_target(digest_uri, request_uri) == computed
    assert _same_target(digest_uri, request_uri) == computed  # the kept answer
