"""telephony.externalCall.attachRecord (base64, upload URL, RECORD_URL) and
telephony.call.attachTranscription through the wire, on every backend: the pages' results
and errors, files in the record directory, RECORD_URL only from allowed hosts, and the
bad-input table."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest

from tests.auth.conftest import error
from tests.conftest import Env, make_env

MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 32
NOT_FINISHED = "Call is not found in the statistic table. It looks like it is not finished yet."
WRONG_EXTENSION = "Wrong file extension. Only wav and mp3 are allowed"
REGISTER = {"USER_ID": 1, "PHONE_NUMBER": "79780000000", "TYPE": 2}


def live_call(env: Env) -> str:
    call_id: str = env.ok("telephony.externalCall.register", REGISTER)["result"]["CALL_ID"]
    return call_id


def finished_call(env: Env) -> str:
    call_id = live_call(env)
    env.ok("telephony.externalCall.finish", {"CALL_ID": call_id, "USER_ID": 1, "DURATION": 30})
    return call_id


def attach(env: Env, call_id: str, **fields: Any) -> Any:
    return env.call("telephony.externalCall.attachRecord", {"CALL_ID": call_id, **fields})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def row(env: Env) -> dict[str, Any]:
    result: dict[str, Any] = env.ok("voximplant.statistic.get")["result"][0]
    return result


def stored_files(env: Env) -> list[Path]:
    directory = Path(env.app.settings.record_dir)
    return sorted(p for p in directory.glob("*") if p.is_file()) if directory.exists() else []


def count(env: Env, table: str) -> int:
    store = env.app.store
    assert store is not None
    found = env.run(store.driver.fetch_one, f"SELECT COUNT(*) FROM {table}")
    return int(found[0])


# -- base64 content ---------------------------------------------------------------------


def test_content_stores_the_file_and_answers_its_id(env):
    call_id = finished_call(env)
    response = attach(env, call_id, FILENAME="call.mp3", FILE_CONTENT=b64(MP3))
    assert response.status_code == 200, response.text
    file_id = response.json()["result"]["FILE_ID"]
    assert isinstance(file_id, int) and file_id > 0
    assert row(env)["RECORD_FILE_ID"] == file_id
    [path] = stored_files(env)
    assert path.read_bytes() == MP3


def test_content_with_line_breaks_and_wav_is_accepted(env):
    call_id = finished_call(env)
    encoded = base64.encodebytes(WAV).decode()  # lines of 76 characters
    response = attach(env, call_id, FILENAME="CALL.WAV", FILE_CONTENT=encoded)
    assert response.status_code == 200, response.text
    assert stored_files(env)[0].read_bytes() == WAV


def test_new_record_replaces_the_old_one(env):
    call_id = finished_call(env)
    first = attach(env, call_id, FILENAME="a.mp3", FILE_CONTENT=b64(MP3)).json()["result"]
    second = attach(env, call_id, FILENAME="b.wav", FILE_CONTENT=b64(WAV)).json()["result"]
    assert second["FILE_ID"] != first["FILE_ID"]
    assert row(env)["RECORD_FILE_ID"] == second["FILE_ID"]
    assert [p.read_bytes() for p in stored_files(env)] == [WAV]
    assert count(env, "call_files") == 1


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"FILENAME": "", "FILE_CONTENT": b64(MP3)}, "File name is empty"),
        ({"FILENAME": "call.ogg", "FILE_CONTENT": b64(MP3)}, WRONG_EXTENSION),
        ({"FILENAME": "call", "FILE_CONTENT": b64(MP3)}, WRONG_EXTENSION),
        ({"FILENAME": "call.mp3", "FILE_CONTENT": ""}, "File content is empty."),
        ({"FILENAME": "call.mp3", "FILE_CONTENT": "  \n"}, "File content is empty."),
        (
            {"FILENAME": "call.mp3", "FILE_CONTENT": "not base64!"},
            "File content is not properly encoded. Base64 encoding is expected.",
        ),
        (
            {"FILENAME": "call.mp3", "FILE_CONTENT": b64(MP3)[:-3]},
            "File content is not properly encoded. Base64 encoding is expected.",
        ),
        ({"FILENAME": "call.mp3", "FILE_CONTENT": b64(b"<html>not audio</html>")}, WRONG_EXTENSION),
        (
            {},
            "Required parameters are not set. Request should contain either URL or FILENAME parameter",
        ),
    ],
)
def test_content_errors(env, fields, text):
    call_id = finished_call(env)
    error(attach(env, call_id, **fields), 400, "ERROR_CORE", text)
    assert stored_files(env) == [] and count(env, "call_files") == 0
    assert row(env)["RECORD_FILE_ID"] is None


@pytest.mark.parametrize("call", ["live", "unknown"])
def test_record_needs_a_finished_call(env, call):
    call_id = live_call(env) if call == "live" else "externalCall.nope.1"
    response = attach(env, call_id, FILENAME="call.mp3", FILE_CONTENT=b64(MP3))
    error(response, 400, "ERROR_CORE", NOT_FINISHED)
    assert stored_files(env) == []


@pytest.fixture
def small_env(database_urls, tmp_path_factory) -> Iterator[Env]:
    yield from make_env(
        "sqlite", database_urls, tmp_path_factory, record_max_bytes=100, error_texts="core"
    )


def test_content_over_the_cap_is_refused(small_env):
    call_id = finished_call(small_env)
    response = attach(small_env, call_id, FILENAME="call.mp3", FILE_CONTENT=b64(MP3))
    error(response, 400, "ERROR_CORE", "File is too large: the limit is 100 bytes")
    assert stored_files(small_env) == []


def test_core_texts(small_env):
    response = attach(small_env, "nope", FILENAME="a.mp3", FILE_CONTENT=b64(MP3[:50]))
    text = "Call is not found in the statistic table. Looks like it is not finished yet."
    error(response, 400, "ERROR_CORE", text)
    text = "Required parameters are not set. Request should contain or URL or FILENAME parameter"
    error(attach(small_env, "nope"), 400, "ERROR_CORE", text)


# -- the upload URL ---------------------------------------------------------------------


def upload_url(env: Env, call_id: str, name: str = "call.mp3") -> str:
    result = attach(env, call_id, FILENAME=name).json()["result"]
    assert result["fieldName"] == "file"
    url: str = result["uploadUrl"]
    return url


def test_filename_alone_gives_an_upload_url_that_stores_the_post(env):
    call_id = finished_call(env)
    url = upload_url(env, call_id)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://testserver"
    assert parts.path == "/rest/upload.json" and "token=telephony%7C" in parts.query
    assert count(env, "call_files") == 0
    posted = env.client.post(url, files={"file": ("call.mp3", MP3, "audio/mpeg")})
    assert posted.status_code == 200, posted.text
    file_id = posted.json()["result"]["FILE_ID"]
    assert row(env)["RECORD_FILE_ID"] == file_id
    assert stored_files(env)[0].read_bytes() == MP3
    again = env.client.post(url, files={"file": ("call.mp3", MP3, "audio/mpeg")})
    error(again, 400, "ERROR_CORE", "Upload URL is unknown or expired")


def test_upload_url_follows_public_url_and_expires(oauth):
    env = oauth.env
    call_id = finished_call(env)
    url = upload_url(env, call_id)
    oauth.clock.advance(3601)
    posted = env.client.post(url, files={"file": ("call.mp3", MP3, "audio/mpeg")})
    error(posted, 400, "ERROR_CORE", "Upload URL is unknown or expired")


@pytest.mark.parametrize(
    ("files", "text"),
    [
        ({"file": ("call.ogg", MP3, "audio/ogg")}, WRONG_EXTENSION),
        ({"file": ("call.mp3", b"plain text", "audio/mpeg")}, WRONG_EXTENSION),
        ({"file": ("call.mp3", b"", "audio/mpeg")}, "File content is empty."),
        ({"other": ("call.mp3", MP3, "audio/mpeg")}, "Error: required parameter file is not found"),
    ],
)
def test_upload_errors_store_nothing(env, files, text):
    call_id = finished_call(env)
    url = upload_url(env, call_id)
    error(env.client.post(url, files=files), 400, "ERROR_CORE", text)
    assert stored_files(env) == [] and count(env, "call_files") == 0


def test_upload_with_unknown_token_or_no_form_is_refused(env):
    posted = env.client.post(
        "/rest/upload.json?token=telephony%7Cnope", files={"file": ("a.mp3", MP3)}
    )
    error(posted, 400, "ERROR_CORE", "Upload URL is unknown or expired")
    posted = env.client.post("/rest/upload.json?token=x", content=b"junk")
    error(posted, 400, "ERROR_CORE", "Error: required parameter file is not found")
    error(env.client.get("/rest/upload.json"), 400, "ERROR_CORE")


# -- RECORD_URL -----------------------------------------------------------------------


class Recordings(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes, dict[str, str]]]] = {
        "/rec.mp3": (200, MP3, {}),
        "/rec": (200, WAV, {}),
        "/missing.mp3": (404, b"no", {}),
        "/moved.mp3": (302, b"", {"Location": "http://10.1.2.3/rec.mp3"}),
        "/page.mp3": (200, b"<html>hello</html>", {}),
        "/big.mp3": (200, MP3 * 400, {}),
    }

    def do_GET(self) -> None:
        status, body, headers = self.routes.get(self.path, (404, b"", {}))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recordings)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_record_url_on_loopback_is_fetched(env, server):
    call_id = finished_call(env)
    response = attach(env, call_id, RECORD_URL=f"{server}/rec.mp3")
    assert response.status_code == 200, response.text
    file_id = response.json()["result"]["FILE_ID"]
    found = row(env)
    assert found["RECORD_FILE_ID"] == file_id and found["CALL_RECORD_URL"] == f"{server}/rec.mp3"
    assert stored_files(env)[0].read_bytes() == MP3


def test_record_url_takes_its_name_from_filename(env, server):
    call_id = finished_call(env)
    error(attach(env, call_id, RECORD_URL=f"{server}/rec"), 400, "ERROR_CORE", WRONG_EXTENSION)
    response = attach(env, call_id, RECORD_URL=f"{server}/rec", FILENAME="call.wav")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/missing.mp3", "Server returns HTTP error code 404"),
        ("/moved.mp3", "Server returns HTTP error code 302"),
        ("/page.mp3", WRONG_EXTENSION),
    ],
)
def test_record_url_errors(env, server, path, text):
    call_id = finished_call(env)
    error(attach(env, call_id, RECORD_URL=server + path), 400, "ERROR_CORE", text)
    assert stored_files(env) == [] and row(env)["RECORD_FILE_ID"] is None


def test_record_url_over_the_cap_is_refused(small_env, server):
    call_id = finished_call(small_env)
    response = attach(small_env, call_id, RECORD_URL=f"{server}/big.mp3")
    error(response, 400, "ERROR_CORE", "File is too large: the limit is 100 bytes")
    assert stored_files(small_env) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/rec.mp3",
        "http://10.0.0.1/rec.mp3",
        "http://169.254.169.254/latest/meta-data.mp3",
        "http://127.0.0.1.nip.io/rec.mp3",
    ],
)
def test_record_url_to_a_disallowed_host_is_refused_without_a_request(env, url):
    call_id = finished_call(env)
    host = urlsplit(url).hostname
    text = f"RECORD_URL host {host} is not allowed (setting record_fetch_hosts)"
    error(attach(env, call_id, RECORD_URL=url), 400, "ERROR_CORE", text)
    assert stored_files(env) == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/a.mp3", "file:///etc/passwd", "/rec.mp3", ""])
def test_record_url_must_be_http(env, url):
    call_id = finished_call(env)
    response = attach(env, call_id, RECORD_URL=url)
    error(response, 400, "ERROR_CORE", "RECORD_URL should be an http or https URL")


def test_record_url_that_does_not_answer(env):
    call_id = finished_call(env)
    response = attach(env, call_id, RECORD_URL="http://127.0.0.1:9/rec.mp3")
    body = error(response, 400, "ERROR_CORE")
    assert body["error_description"].startswith("SERVER_NOT_AVAILABLE: ")


@pytest.fixture
def open_env(database_urls, tmp_path_factory) -> Iterator[Env]:
    yield from make_env(
        "sqlite", database_urls, tmp_path_factory, record_fetch_hosts="recordings.test, 10.0.0.1"
    )


def test_record_fetch_hosts_setting_allows_named_hosts(open_env):
    call_id = finished_call(open_env)
    body = error(
        attach(open_env, call_id, RECORD_URL="http://recordings.test/a.mp3"), 400, "ERROR_CORE"
    )
    assert "not allowed" not in body["error_description"]
    body = error(attach(open_env, call_id, RECORD_URL="http://10.0.0.2/a.mp3"), 400, "ERROR_CORE")
    assert "not allowed" in body["error_description"]


# -- transcription ----------------------------------------------------------------------

MESSAGES = [
    {"SIDE": "User", "START_TIME": 1, "STOP_TIME": 5, "MESSAGE": "We're no strangers to love"},
    {"SIDE": "Client", "START_TIME": 5, "STOP_TIME": 10, "MESSAGE": "You know the rules"},
]


def transcribe(env: Env, call_id: Any, messages: Any = None, **fields: Any) -> Any:
    body = {"CALL_ID": call_id, "MESSAGES": MESSAGES if messages is None else messages, **fields}
    return env.call("telephony.call.attachTranscription", body)


def test_transcription_answers_its_id_and_marks_the_row(env):
    call_id = finished_call(env)
    response = transcribe(env, call_id, COST="300.00", COST_CURRENCY="USD")
    assert response.status_code == 200, response.text
    transcript_id = response.json()["result"]["TRANSCRIPT_ID"]
    assert isinstance(transcript_id, int) and transcript_id > 0
    found = row(env)
    assert found["TRANSCRIPT_ID"] == str(transcript_id) and found["TRANSCRIPT_PENDING"] == "N"


def test_transcription_needs_a_finished_call(env):
    call_id = live_call(env)
    text = f"Call {call_id} is not found. Is it finished?"
    error(transcribe(env, call_id), 400, "ERROR_CORE", text)
    assert count(env, "call_transcripts") == 0


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"CALL_ID": None}, "CALL_ID should be set"),
        ({"MESSAGES": "text"}, "MESSAGES should be an array"),
        ({"MESSAGES": None}, "MESSAGES should be an array"),
        (
            {"MESSAGES": [{**MESSAGES[0], "SIDE": "user"}]},
            "MESSAGES[0][SIDE] should be either Client or User",
        ),
        ({"MESSAGES": [MESSAGES[0], "junk"]}, "MESSAGES[1][SIDE] should be either Client or User"),
        (
            {"MESSAGES": [{**MESSAGES[0], "START_TIME": -1}]},
            "MESSAGES[0][START_TIME] should be greater or equal to zero",
        ),
        (
            {"MESSAGES": [{**MESSAGES[0], "STOP_TIME": 0}]},
            "MESSAGES[0][STOP_TIME] should be greater than zero",
        ),
        ({"MESSAGES": [{**MESSAGES[0], "MESSAGE": ""}]}, "MESSAGES[0][MESSAGE] is empty"),
        ({"MESSAGES": {"a": {**MESSAGES[0], "MESSAGE": None}}}, "MESSAGES[a][MESSAGE] is empty"),
    ],
)
def test_transcription_errors(env, body, text):
    call_id = finished_call(env)
    payload = {"CALL_ID": call_id, "MESSAGES": MESSAGES, **body}
    if payload["CALL_ID"] is None:
        del payload["CALL_ID"]
    error(env.call("telephony.call.attachTranscription", payload), 400, "ERROR_CORE", text)
    assert count(env, "call_transcripts") == 0


# -- the bad-input table: documented errors, never a 500, nothing stored ----------------

BAD = [
    (
        "telephony.externalCall.attachRecord",
        {"FILENAME": ["a.mp3"], "FILE_CONTENT": "x"},
        "ERROR_ARGUMENT",
    ),
    (
        "telephony.externalCall.attachRecord",
        {"FILENAME": "a.mp3", "FILE_CONTENT": {"a": 1}},
        "ERROR_ARGUMENT",
    ),
    (
        "telephony.externalCall.attachRecord",
        {"RECORD_URL": ["http://127.0.0.1/"]},
        "ERROR_ARGUMENT",
    ),
    (
        "telephony.externalCall.attachRecord",
        {"CALL_ID": ["x"], "FILENAME": "a.mp3"},
        "ERROR_ARGUMENT",
    ),
    (
        "telephony.externalCall.attachRecord",
        {"FILENAME": "a.mp3", "FILE_CONTENT": "=" * 9},
        "ERROR_CORE",
    ),
    (
        "telephony.externalCall.attachRecord",
        {"FILENAME": "a.mp3", "FILE_CONTENT": 12345},
        "ERROR_CORE",
    ),
    ("telephony.externalCall.attachRecord", {"RECORD_URL": "http://[::1"}, "ERROR_CORE"),
    ("telephony.call.attachTranscription", {"MESSAGES": [[1, 2]]}, "ERROR_CORE"),
    ("telephony.call.attachTranscription", {"MESSAGES": [{"SIDE": ["User"]}]}, "ERROR_CORE"),
    ("telephony.call.attachTranscription", {"CALL_ID": {"a": 1}}, "ERROR_ARGUMENT"),
    ("telephony.call.attachTranscription", {"COST": [1]}, "ERROR_ARGUMENT"),
]


@pytest.mark.parametrize(("method", "body", "code"), BAD)
def test_bad_input_gets_a_documented_error(env, method, body, code):
    call_id = finished_call(env)
    payload = {"CALL_ID": call_id, "MESSAGES": MESSAGES, **body}
    response = env.call(method, payload)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == code
    assert count(env, "call_files") == 0 and count(env, "call_transcripts") == 0
    assert stored_files(env) == []
