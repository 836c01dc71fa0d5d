"""Digest auth: RFC vectors, challenge parsing and choice, nc counting, verification."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trunkline.sip import digest
from trunkline.sip.digest import (
    ALGORITHMS,
    Challenge,
    DigestClient,
    DigestCredentials,
    _parse_auth_header,
    _walk_auth_header,
    choose_challenge,
    compute_ha1,
    compute_response,
    format_authorization,
    format_challenge,
    parse_authorization,
    parse_challenges,
    verify_authorization,
)
from trunkline.sip.errors import SipParseError, UnsupportedChallengeError

RFC7616 = Challenge(
    realm="http-auth@example.org",
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    qop=("auth", "auth-int"),
    opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_credentials_rfc7616_vectors(algorithm: str, expected: str) -> None:
    client = DigestClient("Mufasa", "Circle of Life", cnonce_factory=lambda: RFC7616_CNONCE)
    challenge = dataclasses.replace(RFC7616, algorithm=algorithm)
    credentials = client.credentials(challenge, "GET", "/dir/index.html")
    assert credentials.response == expected
    assert (credentials.nc, credentials.qop, credentials.cnonce) == (
        "00000001",
        "auth",
        RFC7616_CNONCE,
    )
    assert credentials.opaque == RFC7616.opaque


def test_authorize_rfc2617_vector() -> None:
    challenge = Challenge(
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop=("auth", "auth-int"),
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
    )
    client = DigestClient("Mufasa", "Circle Of Life", cnonce_factory=lambda: "0a4f113b")
    assert client.authorize(challenge, "GET", "/dir/index.html") == (
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
        'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001'
    )


def test_authorize_counts_nc_per_nonce() -> None:
    client = DigestClient("u", "p", cnonce_factory=lambda: "c")
    first = Challenge("r", "n1", qop=("auth",))
    second = Challenge("r", "n2", qop=("auth",))
    ncs = [client.credentials(c, "REGISTER", "sip:h").nc for c in (first, first, second, first)]
    assert ncs == ["00000001", "00000002", "00000001", "00000003"]


def test_authorize_forgets_old_nonces_beyond_limit() -> None:
    client = DigestClient("u", "p", cnonce_factory=lambda: "c")
    for index in range(9):
        client.credentials(Challenge("r", f"n{index}", qop=("auth",)), "REGISTER", "sip:h")
    again = client.credentials(Challenge("r", "n0", qop=("auth",)), "REGISTER", "sip:h")
    assert again.nc == "00000001"


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        # RFC 2617 §3.5 credentials without qop (RFC 2617 errata value).
        ("Circle Of Life", "670fd8c2df070c60b045671b8b24ff02"),
        # RFC 2069 §2.4 example (errata value; the printed one is wrong).
        ("CircleOfLife", "1949323746fe6a43ef61f9606e7febea"),
    ],
)
def test_authorize_without_qop_uses_legacy_form(password: str, expected: str) -> None:
    client = DigestClient("Mufasa", password)
    challenge = Challenge("testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093")
    credentials = client.credentials(challenge, "GET", "/dir/index.html")
    assert (credentials.qop, credentials.nc, credentials.cnonce) == (None, None, None)
    assert credentials.response == expected
    header = format_authorization(credentials)
    assert "qop" not in header
    assert "nc=" not in header
    assert "cnonce" not in header


def test_authorize_sess_uses_cnonce_even_without_qop() -> None:
    client = DigestClient("u", "p", cnonce_factory=lambda: "cn")
    credentials = client.credentials(Challenge("r", "n", algorithm="MD5-sess"), "REGISTER", "sip:h")
    assert credentials.cnonce == "cn"
    ha1 = compute_ha1("MD5", "u", "r", "p")
    assert credentials.response == compute_response(
        algorithm="MD5-sess", ha1=ha1, nonce="n", method="REGISTER", uri="sip:h", cnonce="cn"
    )
    assert verify_authorization(credentials, method="REGISTER", password="p")


def test_authorize_userhash_sends_hashed_username() -> None:
    client = DigestClient("Mufasa", "Circle of Life", cnonce_factory=lambda: RFC7616_CNONCE)
    challenge = dataclasses.replace(RFC7616, algorithm="SHA-256", userhash=True)
    credentials = client.credentials(challenge, "GET", "/dir/index.html")
    # RFC 7616 §3.9.2 gives this hash for Jäsøn Doe; for Mufasa we check the definition.
    import hashlib

    assert credentials.username == hashlib.sha256(b"Mufasa:http-auth@example.org").hexdigest()
    assert "userhash=true" in format_authorization(credentials)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_verify_authorization_accepts_own_credentials_every_algorithm(algorithm: str) -> None:
    client = DigestClient("alice", "secret")
    challenge = Challenge("realm", "nonce", algorithm=algorithm, qop=("auth",), opaque="o")
    header = client.authorize(challenge, "REGISTER", "sip:example.com")
    credentials = parse_authorization(header)
    assert verify_authorization(credentials, method="REGISTER", password="secret")
    ha1 = compute_ha1(algorithm, "alice", "realm", "secret").upper()
    assert verify_authorization(credentials, method="REGISTER", ha1=ha1)
    assert not verify_authorization(credentials, method="REGISTER", password="wrong")
    assert not verify_authorization(credentials, method="INVITE", password="secret")


def _good() -> DigestCredentials:
    client = DigestClient("alice", "secret", cnonce_factory=lambda: "c")
    return client.credentials(Challenge("r", "n", qop=("auth",)), "REGISTER", "sip:h")


@pytest.mark.parametrize(
    "change",
    [
        {"algorithm": "SHA-1"},
        {"qop": "auth-int"},
        {"cnonce": None},
        {"nc": None},
    ],
)
def test_verify_authorization_rejects_bad_parameters(change: dict[str, str | None]) -> None:
    credentials = dataclasses.replace(_good(), **change)  # type: ignore[arg-type]
    assert not verify_authorization(credentials, method="REGISTER", password="secret")


def test_verify_authorization_without_password_or_ha1_uses_empty_password() -> None:
    client = DigestClient("alice", "")
    credentials = client.credentials(Challenge("r", "n"), "REGISTER", "sip:h")
    assert verify_authorization(credentials, method="REGISTER")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            ['Digest realm="r", nonce="n", qop="auth,auth-int", algorithm=MD5, opaque="o"'],
            [Challenge("r", "n", "MD5", ("auth", "auth-int"), "o")],
        ),
        (
            ['DIGEST REALM="r",NONCE="n",ALGORITHM="sha-256-SESS",STALE=TRUE,userhash=true'],
            [Challenge("r", "n", "SHA-256-sess", (), None, True, True)],
        ),
        (
            [
                'Digest realm="a", nonce="1", algorithm=MD5, Digest realm="a", nonce="2", '
                "algorithm=SHA-256",
                'Basic realm="x"',
                "Bearer abc==",
            ],
            [Challenge("a", "1"), Challenge("a", "2", "SHA-256")],
        ),
        (['Digest realm="only-realm"', 'Digest nonce="only-nonce"'], []),
        (['Digest realm="a\\"b", nonce=tok/en=='], [Challenge('a"b', "tok/en==")]),
        (['Digest realm="r", nonce="n", stale=false, qop=""'], [Challenge("r", "n")]),
        ([""], []),
    ],
)
def test_parse_challenges_valid(values: list[str], expected: list[Challenge]) -> None:
    assert parse_challenges(values) == expected


@pytest.mark.parametrize(
    "value",
    [
        'realm="r"',
        'Digest realm="r", realm="s", nonce="n"',
        'Digest realm="unterminated',
        "Digest @",
        'Digest "quoted"',
    ],
)
def test_parse_challenges_malformed_raises(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_challenges([value])


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["MD5", "SHA-256"], "SHA-256"),
        (["SHA-256", "SHA-512-256", "MD5"], "SHA-512-256"),
        (["MD5-sess", "MD5"], "MD5-sess"),
        (["SHA-1", "MD5"], "MD5"),
        (["SHA-256-sess", "SHA-256"], "SHA-256-sess"),
    ],
)
def test_choose_challenge_prefers_strongest(offered: list[str], chosen: str) -> None:
    challenges = [Challenge("r", f"n{i}", a, ("auth",)) for i, a in enumerate(offered)]
    assert choose_challenge(challenges).algorithm == chosen


@pytest.mark.parametrize(
    "challenges",
    [
        [],
        [Challenge("r", "n", "SHA-1")],
        [Challenge("r", "n", "MD5", ("auth-int",))],
    ],
)
def test_choose_challenge_none_answerable_raises(challenges: list[Challenge]) -> None:
    with pytest.raises(UnsupportedChallengeError):
        choose_challenge(challenges)


def test_credentials_unanswerable_challenge_raises() -> None:
    with pytest.raises(UnsupportedChallengeError):
        DigestClient("u", "p").credentials(Challenge("r", "n", "SHA-1"), "REGISTER", "sip:h")


def test_format_challenge_round_trips() -> None:
    challenge = Challenge("r", "n", "SHA-256", ("auth",), "op", stale=True, userhash=True)
    text = format_challenge(challenge)
    assert text == (
        'Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, opaque="op", stale=true, '
        "userhash=true"
    )
    assert parse_challenges([text]) == [challenge]
    assert format_challenge(Challenge("r", "n")) == 'Digest realm="r", nonce="n", algorithm=MD5'


def test_parse_authorization_round_trips() -> None:
    credentials = _good()
    parsed = parse_authorization(format_authorization(credentials))
    assert parsed == credentials
    assert parsed.nc_value == 1


@pytest.mark.parametrize(
    "value",
    [
        "Basic abc",
        'Digest username="u", realm="r"',
        'Digest username="u", realm="r", nonce="n", uri="u", response="x", Digest a=b',
        "Digest",
    ],
)
def test_parse_authorization_invalid_raises(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_authorization(value)


@pytest.mark.parametrize(
    ("nc", "expected"), [(None, None), ("0000000a", 10), ("1", None), ("zzzzzzzz", None)]
)
def test_nc_value(nc: str | None, expected: int | None) -> None:
    assert dataclasses.replace(_good(), nc=nc).nc_value == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_auth_header_parsers_fuzz_raise_only_parse_errors(text: str) -> None:
    with contextlib.suppress(SipParseError):
        parse_challenges([text])
    with contextlib.suppress(SipParseError):
        parse_authorization(text)


_printable = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"))


@settings(max_examples=200, deadline=None)
@given(
    st.text(_printable, min_size=1, max_size=12),
    st.text(max_size=12),
    st.text(_printable, min_size=1, max_size=12),
    st.sampled_from(ALGORITHMS),
)
def test_authorization_round_trips_and_verifies(
    username: str, password: str, realm: str, algorithm: str
) -> None:
    client = DigestClient(username, password)
    challenge = Challenge(realm, "nonce", algorithm, ("auth",), opaque="op")
    header = client.authorize(challenge, "REGISTER", "sip:example.com")
    parsed = parse_authorization(header)
    assert verify_authorization(parsed, method="REGISTER", password=password)


@pytest.mark.parametrize(
    "challenge",
    [
        Challenge("r", "n1", "MD5", ("auth",), "op"),
        Challenge("r", "n1", "MD5"),
        Challenge("r", "n1", "SHA-256-sess"),
        Challenge('r e"a', "n1", "SHA-512-256", ("auth", "auth-int"), userhash=True),
        Challenge("r", "n1", "MD5-sess", ("auth",), "o", stale=True, userhash=True),
    ],
)
def test_authorize_text_equals_formatted_credentials(challenge: Challenge) -> None:
    """The cached layout gives the text format_authorization gives, request after request."""
    fast = DigestClient("alice", "pw", cnonce_factory=lambda: "c0ffee")
    slow = DigestClient("alice", "pw", cnonce_factory=lambda: "c0ffee")
    for uri in ("sip:a.example", "sip:a.example", "sip:b.example"):
        expected = format_authorization(slow.credentials(challenge, "REGISTER", uri))
        assert fast.authorize(challenge, "REGISTER", uri) == expected


_auth_pieces = st.sampled_from(
    [
        "Digest",
        "Basic",
        " ",
        "\t",
        ",",
        ", ",
        "=",
        '"',
        "\\",
        "realm",
        "nonce",
        "a",
        "x=y",
        '"q,w"',
        'username="phone1"',
        "qop=auth",
        "nc=00000001",
        'uri="sip:h"',
        "NC=1",
    ]
)
_auth_values = st.one_of(
    st.lists(_auth_pieces, max_size=14).map("".join),
    st.lists(
        st.tuples(st.sampled_from(["realm", "nonce", "nc", "Realm", "uri"]), st.text(' a"\\,=')),
        min_size=1,
        max_size=5,
    ).map(lambda pairs: "Digest " + ", ".join(f'{n}="{v}"' for n, v in pairs)),
)


def _outcome(parse, value: str) -> object:
    try:
        return parse(value)
    except SipParseError:
        return SipParseError


@given(_auth_values)
@settings(max_examples=500)
def test_auth_header_fast_path_reads_as_the_walk(value: str) -> None:
    """The one-regex reading of a usual credentials value gives what the general walk gives
    (its parameters, or its refusal) for any text."""
    assert _outcome(_parse_auth_header, value) == _outcome(_walk_auth_header, value)


_ALTERNATION_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet='ab"\\ \n\r,=\t\x00é', max_size=24))
def test_quoted_string_pattern_matches_the_alternation_form(text: str) -> None:
    """digest._QUOTED (an unrolled loop, for speed) matches exactly the strings, and the
    same prefixes, of the plain alternation form it replaced."""
    unrolled = re.compile(digest._QUOTED)
    for start in range(len(text) + 1):
        old = _ALTERNATION_QUOTED.match(text, start)
        new = unrolled.match(text, start)
        assert (old and old.group()) == (new and new.group())
        assert bool(_ALTERNATION_QUOTED.fullmatch(text)) == bool(unrolled.fullmatch(text))


@settings(max_examples=200)
@given(data=st.binary(max_size=300))
def test_md5_is_hashlibs(data: bytes) -> None:
    # CPython's own MD5 where it is built in: the same hex digest as OpenSSL's
    import hashlib

    assert digest._HASHES["MD5"](data) == hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_credentials_compare_and_hash_by_value() -> None:
    # slotted, not frozen: still equal and hashed by their fields, and no attribute added
    made = [
        digest.parse_authorization(
            'Digest username="u", realm="r", nonce="n", uri="sip:h", response="0a",'
            " qop=auth, nc=0000000A, cnonce=c"
        )
        for _ in range(2)
    ]
    assert made[0] == made[1] and hash(made[0]) == hash(made[1])
    assert made[0].nc_value == 10
    assert dataclasses.replace(made[0], nc="xyz").nc_value is None
    with pytest.raises(AttributeError):
        made[0].extra = 1  # type: ignore[attr-defined]


_AUTH_NAMES = st.sampled_from(
    ["username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce", "Realm", "a b", ""]
)
_AUTH_VALUES = st.sampled_from(
    [
        '"phone7"',
        '"a,b"',
        '"a,b=c"',
        '"sip:127.0.0.1:5070"',
        "auth",
        "00000001",
        "",
        '""',
        '"a, b"',
        '"a\\\\"b"',
        '"x',
        '"x"y"',
        'a"b',
        "a,b",
        "a b",
        "\xa0",
        "a\tb",
        '"Trunkline PBX"',
        '"="',
        "MD5",
    ]
)
_AUTH_PAIRS = st.lists(
    st.tuples(_AUTH_NAMES, st.sampled_from(["=", " = ", "", "=="]), _AUTH_VALUES),
    min_size=0,
    max_size=6,
)


@settings(max_examples=1500)
@example(scheme="Digest", gap=" ", pairs=[("nc", "=", "\xa0")], separator=", ", tail="")
@example(scheme="Digest", gap=" ", pairs=[("nc", "=", "a\tb")], separator=", ", tail="")
@example(scheme="Digest", gap=" ", pairs=[("nc", "=", 'a"b')], separator=", ", tail="")
@example(scheme="Digest", gap=" ", pairs=[("uri", "=", '"a, b"')], separator=", ", tail="")
@example(scheme="Digest", gap=" ", pairs=[("uri", "=", '"x"y"')], separator=", ", tail="")
@example(
    scheme="Digest", gap=" ", pairs=[("nc", "=", "1"), ("nc", "=", "2")], separator=", ", tail=""
)
@example(scheme="Digest", gap=" ", pairs=[("nc", "=", '"')], separator=", ", tail="")
@example(scheme="Digest", gap=" ", pairs=[("uri", "=", '"a, b"')], separator=",", tail="")
@example(scheme="Digest", gap=" ", pairs=[("uri", "=", '"a,b"')], separator=",", tail="")
@example(
    scheme="Digest", gap=" ", pairs=[("nc", "=", "1"), ("uri", "=", "a")], separator=" ,", tail=""
)
@given(
    scheme=st.sampled_from(["Digest", "digest", "Basic", "", "Dig est", "Digest,"]),
    gap=st.sampled_from([" ", "  ", "\t", ""]),
    pairs=_AUTH_PAIRS,
    separator=st.sampled_from([", ", ",", " , ", ",  ", " ,"]),
    tail=st.sampled_from(["", ",", " ", ", Basic x=y"]),
)
def test_usual_auth_header_is_the_general_parse(
    scheme: str, gap: str, pairs: list[tuple[str, str, str]], separator: str, tail: str
) -> None:
    # the split of the usual value gives what the regexes give; anything else is left to them
    value = scheme + gap + separator.join(f"{n}{eq}{v}" for n, eq, v in pairs) + tail
    usual = digest._usual_auth_header(value)
    try:
        general = digest._parse_auth_header_general(value)
    except SipParseError:
        assert usual is None
        return
    assert usual is None or usual == general
    if scheme == "Digest" and gap == " " and separator in (", ", ",") and not tail and pairs:
        plain = all(eq == "=" and n in ("username", "realm", "uri", "nc") for n, eq, _ in pairs)
        simple = all(v in ('"phone7"', "auth", "00000001", "") for _, _, v in pairs)
        if plain and simple and len({n for n, _, _ in pairs}) == len(pairs):
            assert usual == general  # the usual value does take the split


@pytest.mark.parametrize(
    ("value", "missing"),
    [
        ('Digest username="u", realm="r"', "nonce, response, uri"),
        ('Digest username="u", realm="r", nonce="n", uri="sip:h"', "response"),
        ("Digest  Username=u", "nonce, realm, response, uri"),
    ],
)
def test_parse_authorization_names_the_missing_parameters(value: str, missing: str) -> None:
    with pytest.raises(SipParseError, match=f"^Digest credentials missing {missing}$"):
        digest.parse_authorization(value)


_NONCE = "6b1352bd.0849b3af81c2959a.af56a70fa826cdd33eb3087c"
_RESPONSE = "f41e3d09f6463a8f2b049acfc149b8da"


@pytest.mark.parametrize(
    "value",
    [
        # sipp 3.6 ([authentication]): "," without a space
        f'Digest username="phone1",realm="127.0.0.1",cnonce="6b8b4567",nc=00000001,qop=auth,'
        f'uri="sip:127.0.0.1:5060",nonce="{_NONCE}",response="{_RESPONSE}",algorithm=MD5,'
        'opaque="a4aa6181600630c4"',
        # baresip
        f'Digest username="phone1", realm="127.0.0.1", nonce="{_NONCE}", uri="sip:127.0.0.1",'
        f' response="{_RESPONSE}", algorithm=MD5, cnonce="0a4f113b", opaque="a4aa6181600630c4",'
        " qop=auth, nc=00000001",
        # Linphone (belle-sip)
        f'Digest realm="127.0.0.1", nonce="{_NONCE}", algorithm=MD5, opaque="a4aa6181600630c4",'
        f' username="phone1", uri="sip:127.0.0.1", response="{_RESPONSE}", cnonce="x1y2",'
        " nc=00000001, qop=auth",
        # Zoiper-style: "," without a space, qop quoted
        f'Digest username="phone1",realm="127.0.0.1",nonce="{_NONCE}",uri="sip:127.0.0.1",'
        f'response="{_RESPONSE}",cnonce="c0ffee",nc=00000001,qop="auth",algorithm=MD5,'
        'opaque="a4aa6181600630c4"',
        # pjsip (MicroSIP, Asterisk)
        f'Digest username="phone1", realm="127.0.0.1", nonce="{_NONCE}", uri="sip:127.0.0.1",'
        f' response="{_RESPONSE}", algorithm=MD5, cnonce="f00d", opaque="a4aa6181600630c4",'
        " qop=auth, nc=00000001",
    ],
    ids=["sipp", "baresip", "linphone", "zoiper", "pjsip"],
)
def test_phones_usual_authorization_takes_the_split(value: str) -> None:
    # the forms phones send are split, not left to the regexes, and read as they read
    usual = digest._usual_auth_header(value)
    assert usual is not None
    assert usual == digest._parse_auth_header_general(value)
    credentials = digest.parse_authorization(value)
    assert (credentials.username, credentials.nonce, credentials.response) == (
        "phone1",
        _NONCE,
        _RESPONSE,
    )
    assert (credentials.qop, credentials.nc, credentials.algorithm) == ("auth", "00000001", "MD5")


@settings(max_examples=200)
@given(
    algorithm=st.sampled_from(["MD5", "SHA-256", "SHA-512-256", "MD5-sess"]),
    method=st.sampled_from(["REGISTER", "INVITE"]),
    uri=st.sampled_from(["sip:127.0.0.1:5060", "sip:pbx.example.com", "sip:\xe9"]),
    qop=st.sampled_from([None, "auth"]),
)
def test_compute_response_with_kept_ha2_is_the_formula(
    algorithm: str, method: str, uri: str, qop: str | None
) -> None:
    # H(A2) kept per (algorithm, method, uri): the response is still the RFC's formula
    def h(text: str) -> str:
        name = algorithm.removesuffix("-sess")
        if name == "MD5":
            return hashlib.md5(text.encode()).hexdigest()
        return hashlib.new(
            "sha256" if name == "SHA-256" else "sha512_256", text.encode()
        ).hexdigest()

    ha1 = h("u:r:p")
    session = h(f"{ha1}:n:c") if algorithm.endswith("-sess") else ha1
    ha2 = h(f"{method}:{uri}")
    expected = h(f"{session}:n:{ha2}" if qop is None else f"{session}:n:00000001:c:{qop}:{ha2}")
    for _ in range(2):  # the second with H(A2) kept
        response = compute_response(
            algorithm=algorithm,
            ha1=ha1,
            nonce="n",
            method=method,
            uri=uri,
            qop=qop,
            nc="00000001",
            cnonce="c",
        )
        assert response == expected
