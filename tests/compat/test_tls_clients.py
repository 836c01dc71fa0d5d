"""`trunkline serve --tls`: the https-only clients work with no patch and no code change,
only the environment lines the server prints.

* b24pysdk 1.3.2 (hard-codes ``https://{domain}/rest``), webhook and OAuth, run in a
  subprocess whose environment holds the printed lines and nothing is patched;
* @bitrix24/b24jssdk 2.2.0 ``B24Hook.fromWebhookUrl`` (rejects ``http:``) under Node with
  ``NODE_EXTRA_CA_CERTS``;
* CRest's requests (PHP arrays form-encoded, GET with no body, a form batch) sent by curl,
  the same libcurl CRest uses, with the printed ``--cacert`` form and ``CURL_CA_BUNDLE``
  (PHP is not on this machine; ``php -d curl.cainfo=<ca>`` is CRest's way to the same CA).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.test_oauth_clients import CLIENTS_JS, node_ready
from trunkline.testing.server import LiveServer

pytestmark = pytest.mark.compat

SCENARIO = {
    "domain": "tls.example",
    "webhooks": [{"user": 1, "code": "tlshook123456789"}],
    "apps": [{"title": "TLS app"}],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir: Path = tmp_path_factory.mktemp("tls-server")
    with LiveServer.start(workdir, args=("--tls", "--operator-token", "auto")) as live:
        yield live


@pytest.fixture(scope="module")
def portal(server: LiveServer) -> dict[str, Any]:
    made = httpx.post(
        f"{server.base_url}/operator/portals",
        json=SCENARIO,
        headers={"authorization": f"Bearer {server.operator_token}"},
        verify=trust(server),
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def trust(server: LiveServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca_file)


def printed_env(server: LiveServer) -> dict[str, str]:
    """The environment with the lines ``serve --tls`` printed, as a user exports them."""
    assert server.tls is not None
    return {**os.environ, **server.tls["env"]}


def test_serve_tls_prints_the_trust_lines(server: LiveServer):
    assert server.base_url.startswith("https://127.0.0.1:")
    tls = server.tls
    assert tls is not None
    assert set(tls["env"]) >= {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"}
    assert tls["curl"].startswith(f"curl --cacert {tls['ca_file']} 'https://127.0.0.1:")
    assert {"127.0.0.1", "::1", "localhost", "trunkline.local"} <= set(tls["names"])
    banner = httpx.get(server.base_url + "/health", verify=trust(server))
    assert banner.status_code == 200
    with pytest.raises(httpx.ConnectError):  # not trusted without the CA
        httpx.get(server.base_url + "/health")


B24PYSDK = """
import json, sys
from b24pysdk import BitrixApp, BitrixToken, BitrixWebhook, Client
config = json.loads(sys.argv[1])
if config["mode"] == "webhook":
    auth = BitrixWebhook(domain=config["domain"], webhook_token=config["token"])
else:
    auth = BitrixToken(
        domain=config["domain"], auth_token=config["access"], refresh_token=config["refresh"],
        bitrix_app=BitrixApp(client_id=config["client_id"], client_secret=config["secret"]),
    )
client = Client(auth)
added = client.voximplant.sip.add(
    type="office", title=config["title"], server="pbx.example", login="py", password="p"
).response.result
rows = client.voximplant.sip.get().response.result
print(json.dumps({"added": added["TITLE"], "titles": [row["TITLE"] for row in rows]}))
"""


def run_b24pysdk(server: LiveServer, config: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", B24PYSDK, json.dumps(config)],
        env=printed_env(server),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_b24pysdk_webhook_over_tls(server: LiveServer, portal: dict[str, Any]):
    config = {
        "mode": "webhook",
        "domain": f"127.0.0.1:{server.port}",
        "token": "1/tlshook123456789",
        "title": "b24pysdk webhook",
    }
    answer = run_b24pysdk(server, config)
    assert answer["added"] == "b24pysdk webhook"
    assert "b24pysdk webhook" in answer["titles"]


def test_b24pysdk_oauth_over_tls(server: LiveServer, portal: dict[str, Any]):
    app = portal["apps"][0]
    config = {
        "mode": "oauth",
        "domain": f"127.0.0.1:{server.port}",
        "access": app["access_token"],
        "refresh": app["refresh_token"],
        "client_id": app["client_id"],
        "secret": app["client_secret"],
        "title": "b24pysdk oauth",
    }
    answer = run_b24pysdk(server, config)
    assert answer == {"added": "b24pysdk oauth", "titles": ["b24pysdk oauth"]}  # the app's own


def test_b24jssdk_hook_over_tls(server: LiveServer, portal: dict[str, Any]):
    node_ready()
    url = portal["webhooks"][0]["url"]
    assert url.startswith("https://")
    done = subprocess.run(
        ["node", "run.mjs", json.dumps({"scenario": "hook", "url": url})],
        cwd=CLIENTS_JS,
        env=printed_env(server),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["ok"] is True, answer
    assert "From B24Hook" in answer["titles"]


def curl(server: LiveServer, *args: str, cacert: bool = True) -> Any:
    assert server.ca_file is not None
    trust = ("--cacert", server.ca_file) if cacert else ()
    env = printed_env(server) if not cacert else {**os.environ}
    done = subprocess.run(
        ["curl", "-sS", *trust, *args], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_crest_requests_over_tls(server: LiveServer, portal: dict[str, Any]):
    hook = portal["webhooks"][0]["url"]
    # CRest::call with params: a POST of PHP arrays, form-encoded
    added = curl(
        server,
        "--data",
        "TYPE=office&TITLE=CRest&SERVER=pbx.example&LOGIN=php",
        hook + "voximplant.sip.add.json",
    )
    assert added["result"]["TITLE"] == "CRest"
    # CRest::call without params: a GET with no body; trusted through CURL_CA_BUNDLE
    listed = curl(server, hook + "voximplant.sip.get.json", cacert=False)
    assert "CRest" in [row["TITLE"] for row in listed["result"]]
    # CRest::callBatch: cmd[...] form values URL-encoded twice, halt=1
    command = "voximplant.sip.get%3FFILTER%255BTITLE%255D%3DCRest"
    batch = curl(server, "--data", f"cmd[a]={command}&halt=1", hook + "batch.json")
    assert [row["TITLE"] for row in batch["result"]["result"]["a"]] == ["CRest"]
