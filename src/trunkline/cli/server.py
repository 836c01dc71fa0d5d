"""``trunkline serve`` (the HTTP server, and the SIP engine with it) and ``trunkline engine``.

``serve`` migrates and seeds the database, prints where it listens (and the seeded
webhook's URL), hands its settings to the workers through the environment, and runs
uvicorn with the ASGI factory ``trunkline.web.app:create_app``. With several workers
the SIP engine runs as a ``trunkline engine`` process of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from typing import Any

from trunkline import __version__
from trunkline.cli.common import base_url, options, settings_from, webhook_url
from trunkline.settings import Settings
from trunkline.storage.url import DatabaseUrl
from trunkline.web.bootstrap import build_engine, engine_mode, open_store, prepare
from trunkline.web.control import limits_summary


def worker_environment(settings: Settings) -> list[tuple[str, str]]:
    """The settings ``serve`` hands its workers through the environment."""
    return [
        ("DATABASE_URL", settings.database_url),
        ("HOST", settings.host),
        ("PORT", str(settings.port)),
        ("PUBLIC_URL", settings.public_url),
        ("HTTPS_REQUIRED", "1" if settings.https_required else "0"),
        ("WORKERS", str(settings.workers)),
        ("LIMITS", "1" if settings.limits else "0"),
        ("REDIS_URL", settings.redis_url),
        ("OPERATOR_TOKEN", settings.operator_token),
    ]


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = settings_from(args)
    seeded = asyncio.run(prepare(settings))
    url = DatabaseUrl(settings.database_url)
    print(f"Trunkline {__version__}")
    print(f"  database: {url.redacted()}")
    print(f"  listening: {base_url(settings)}/rest/  (workers: {settings.workers})")
    for line in limits_summary(settings):
        print(f"  {line}")
    if seeded and seeded.code:
        hook = webhook_url(settings, seeded.user_id, seeded.code)
        print(f"  portal: {seeded.portal.domain}  (user {seeded.user_id} is an administrator)")
        print(f"  webhook URL: {hook}")
        print(f"  try: curl -s '{hook}voximplant.sip.get.json'")
    sys.stdout.flush()
    for name, value in worker_environment(settings):  # workers read their settings there
        os.environ[f"TRUNKLINE_{name}"] = value
    engine = None
    if engine_mode(settings) == "process":
        engine = subprocess.Popen([sys.executable, "-m", "trunkline", "engine"])
        print(f"  SIP engine: process {engine.pid}")
        sys.stdout.flush()
    try:
        uvicorn.run(
            "trunkline.web.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            access_log=False,
            proxy_headers=True,
        )
    finally:
        if engine is not None:
            engine.terminate()
            try:
                engine.wait(15)
            except subprocess.TimeoutExpired:
                engine.kill()


def cmd_engine(args: argparse.Namespace) -> None:
    """Run only the SIP engine (cloud-line registration and the office registrar)."""
    settings = settings_from(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def run() -> None:
        store = await open_store(settings)
        try:
            engine = build_engine(settings, DatabaseUrl(settings.database_url), store)
            await engine.start()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            # SIGUSR1 prints the engine's counters as one JSON line (operators, bench/sip).
            loop.add_signal_handler(
                signal.SIGUSR1, lambda: print(json.dumps(engine.describe()), flush=True)
            )
            listening = engine.registrar.addresses if engine.registrar_running else "off"
            print(
                f"SIP engine: {len(engine.supervisor.runners)} cloud lines, registrar {listening}"
            )
            sys.stdout.flush()
            await stop.wait()
            await engine.stop()
        finally:
            await store.close()

    asyncio.run(run())


def register(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the HTTP server (migrates and seeds on first start)",
        description="Run the HTTP server. On an empty database, create the "
        "default portal, administrator user 1 and a telephony webhook, and "
        "print its URL.",
    )
    options(serve, json_flag=False, portal=None)
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--public-url", help="base URL printed in webhook URLs")
    serve.add_argument(
        "--https-required",
        action="store_true",
        help="refuse webhook calls over plain HTTP, as the real service does",
    )
    serve.add_argument(
        "--limits",
        action="store_true",
        help="enforce the request-rate and operating-time limits on every portal",
    )
    serve.add_argument("--redis-url", help="Redis for limit state shared by every worker")
    serve.add_argument("--operator-token", help="bearer token of the /operator/ endpoints")
    serve.set_defaults(func=cmd_serve)

    engine = sub.add_parser(
        "engine",
        help="run only the SIP engine (registrations and the office registrar)",
        description="Run the SIP engine in its own process: it keeps cloud lines registered, "
        "serves office PBXs, and picks up line changes by scanning the database.",
    )
    options(engine, json_flag=False, portal=None)
    engine.set_defaults(func=cmd_engine)
