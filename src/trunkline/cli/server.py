"""``trunkline serve`` (the HTTP server, and the SIP engine with it), ``trunkline engine``
(the engine alone) and ``trunkline engine status``.

``serve``, in order: reads and checks the settings; sets up logging (``cli/logs.py``, the
same in every process); binds the listening socket itself (so ``--port 0`` knows its port
before anything is printed); migrates and seeds the database; records its public URL in
the ``processes`` table, where the other commands find it; prints where it listens (text,
or one JSON object with ``--json``); hands its settings to the workers through the
environment; starts ``trunkline engine`` when the engine runs in a process of its own; and
runs uvicorn on the socket with the ASGI factory ``trunkline.web.app:create_app``. A clean
stop (SIGTERM, SIGINT) stops the engine and deletes the record.

Everything that is printed goes to stdout, and every log line to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from trunkline.cli.banner import banner, startup_info, tls_info
from trunkline.cli.common import CliError, options, settings_from, settings_url

if TYPE_CHECKING:
    import socket
    from asyncio import AbstractEventLoop
    from collections.abc import Callable

    from trunkline.settings import Settings
    from trunkline.web.bootstrap import Seed

LOG_LEVEL_HELP = "log level: debug, info (default), warning, error or critical"
LOG_FORMAT_HELP = "log format on stderr: text (default) or json (one object per line)"

STARTUP_FAILURE = 3  # uvicorn's exit status when the application did not start


def worker_environment(settings: Settings) -> list[tuple[str, str]]:
    """The settings ``serve`` hands its workers through the environment."""
    return [
        ("DATABASE_URL", settings.database_url),
        ("HOST", settings.host),
        ("PORT", str(settings.port)),
        ("PUBLIC_URL", settings.public_url),
        ("HTTPS_REQUIRED", "1" if settings.https_required else "0"),
        ("TLS", "1" if settings.tls else "0"),
        ("WORKERS", str(settings.workers)),
        ("LIMITS", "1" if settings.limits else "0"),
        ("REDIS_URL", settings.redis_url),
        ("OPERATOR_TOKEN", settings.operator_token),
        ("SEED_FILE", settings.seed_file),
        ("SEED_IDS", str(settings.seed_ids)),
        ("LOG_LEVEL", settings.log_level),
        ("EVENT_DELIVERY", settings.event_delivery),
        ("LOG_FORMAT", settings.log_format),
        ("METRICS", "1" if settings.metrics else "0"),
        ("METRICS_PER_LINE", "1" if settings.metrics_per_line else "0"),
    ]


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: a free port), inheritable by workers."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise CliError(f"cannot listen on {host}:{port} ({reason})") from exc
    sock.set_inheritable(True)
    return sock


async def _prepare(
    settings: Settings, url: str
) -> tuple[Seed | None, dict[str, Any] | None, int, list[str]]:
    """Migrate, seed (and build ``--seed``'s portal), and record this server in the
    processes table (one open store); also the portals' domains (for ``--tls``)."""
    from pathlib import Path

    from trunkline.storage.processes import SERVER
    from trunkline.storage.url import DatabaseUrl
    from trunkline.web.bootstrap import admin_hash, open_store, seed, seed_scenario

    database = DatabaseUrl(settings.database_url)
    hashing = None
    if settings.seed and database.is_sqlite and not Path(database.sqlite_path).exists():
        # A new database will be seeded: hash the administrator's password beside the
        # migrations rather than after them (a fresh serve is ready sooner).
        hashing = admin_hash(settings)
    try:
        store = await open_store(settings)
    except BaseException:
        if hashing is not None:
            hashing.cancel()
        raise
    try:
        seeded = await seed(store, settings, database, hashing=hashing)
        scenario = await seed_scenario(store, settings, url)
        domains = [portal.domain for portal in await store.accounts.list_portals()]
        await store.processes.sweep()
        listen_at = f"{settings.host}:{settings.port}"
        record = await store.processes.announce(SERVER, {"url": url, "listen": listen_at})
    finally:
        await store.close()
    return seeded, scenario, record, domains


async def _withdraw(settings: Settings, record: int) -> None:
    from trunkline.storage.store import Store
    from trunkline.storage.url import DatabaseUrl
    from trunkline.web.bootstrap import cipher_for

    url = DatabaseUrl(settings.database_url)
    store = await Store.open(url, cipher_for(settings, url))
    try:
        await store.processes.withdraw(record)
    finally:
        await store.close()


def _stop(signum: int, frame: Any) -> None:
    """After uvicorn's graceful stop it raises the signal again: end cleanly instead."""
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import logging
    import signal
    import subprocess

    import uvicorn

    settings = settings_from(args)
    metrics_dir = _metrics_directory(settings)  # before anything imports prometheus-client

    from trunkline.cli.logs import configure, log_config
    from trunkline.storage.url import DatabaseUrl
    from trunkline.web.bootstrap import engine_mode, operator_token

    configure(settings.log_level, settings.log_format)
    auto_token = settings.operator_token == "auto"
    if auto_token:
        settings = settings.replace(
            operator_token=operator_token(settings, DatabaseUrl(settings.database_url))
        )
    sock = listen(settings.host, settings.port)
    settings = settings.replace(port=sock.getsockname()[1])
    url = settings_url(settings)
    seed, scenario, record, domains = asyncio.run(_prepare(settings, url))
    tls = None
    if settings.tls:
        from trunkline.web.tls import ensure, tls_directory

        url_of = DatabaseUrl(settings.database_url)
        sqlite_path = url_of.sqlite_path if url_of.is_sqlite else None
        hosts = [h for h in (settings.host,) if h not in ("0.0.0.0", "::", "")]
        tls = ensure(tls_directory(settings.tls_dir, sqlite_path), [*hosts, *domains])
    engine = deliverer = None
    handlers: dict[int, Any] = {}
    try:
        for name, value in worker_environment(settings):  # workers read their settings there
            os.environ[f"TRUNKLINE_{name}"] = value
        info = startup_info(settings, seed, url)
        info["scenario"] = scenario
        info["tls"] = tls_info(tls, info)
        info["operator_token_shown"] = auto_token
        if engine_mode(settings) == "process":
            engine = subprocess.Popen([sys.executable, "-m", "trunkline", "engine"])
            info["engine_pid"] = engine.pid
        if settings.event_delivery == "process":
            deliverer = subprocess.Popen([sys.executable, "-m", "trunkline", "event", "deliver"])
            info["deliverer_pid"] = deliverer.pid
        print(json.dumps(info) if args.json else banner(info, settings), flush=True)
        config = uvicorn.Config(
            "trunkline.web.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=log_config(settings.log_level, settings.log_format),
            log_level=settings.log_level,
            access_log=False,  # trunkline.access logs each REST call, without its URL
            proxy_headers=True,
            # a response's head and body in one send (web/protocol.py)
            http="trunkline.web.protocol:CorkedHttpToolsProtocol",
            ssl_certfile=None if tls is None else str(tls.cert_file),
            ssl_keyfile=None if tls is None else str(tls.key_file),
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            handlers[signum] = signal.signal(signum, _stop)
        if settings.workers > 1:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[sock]).run()
            return 0
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
        return 0 if server.started else STARTUP_FAILURE
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        for child in (engine, deliverer):
            if child is not None:
                child.terminate()
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:
                    child.kill()
        try:
            asyncio.run(_withdraw(settings, record))
        except Exception as exc:  # the database went away: the record is swept next start
            logging.getLogger("trunkline.server").warning(
                "could not remove this server's record (%s)", exc
            )
        sock.close()
        if metrics_dir is not None and metrics_dir[1]:
            from trunkline.metrics.exposition import remove_directory

            remove_directory(metrics_dir[0])


def _metrics_directory(settings: Settings) -> tuple[str, bool] | None:
    """prometheus-client's multiprocess directory for this server, its workers and its
    engine (the environment's PROMETHEUS_MULTIPROC_DIR emptied, or a temporary one that
    is ours to remove), set in the environment they inherit; None: metrics are off."""
    if not settings.metrics:
        return None
    from trunkline.metrics.exposition import ENV, prepare_directory

    found = prepare_directory(os.environ.get(ENV))
    os.environ[ENV] = found[0]
    return found


def cmd_engine(args: argparse.Namespace) -> None:
    """Run only the SIP engine (cloud-line registration and the office registrar)."""
    import asyncio
    import json
    import signal

    from trunkline.cli.logs import configure
    from trunkline.storage.url import DatabaseUrl
    from trunkline.web.bootstrap import build_engine, engine_process, open_store, settle_collector

    settings = settings_from(args)
    configure(settings.log_level, settings.log_format)

    async def run() -> None:
        store = await open_store(settings)
        try:
            engine_process(store)
            engine = build_engine(settings, DatabaseUrl(settings.database_url), store)
            await engine.start()
            settle_collector()  # as a web worker does
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            # SIGUSR1 prints the engine's counters as one JSON line (bench/sip).
            loop.add_signal_handler(
                signal.SIGUSR1, lambda: print(json.dumps(engine.describe()), flush=True)
            )
            await stop.wait()
            await engine.stop()
        finally:
            await store.close()

    with asyncio.Runner(loop_factory=engine_loop_factory()) as runner:
        runner.run(run())


def engine_loop_factory() -> Callable[[], AbstractEventLoop] | None:
    """The event loop of ``trunkline engine``: uvloop's when it is installed, the loop the
    web workers get from uvicorn (and the engine with them, when it runs inside a worker).
    Callgrind, the whole engine process under sipp (200 phones at 8 REGISTER/s): 8.7 % fewer
    instructions a first challenge + REGISTER, 9.0 % fewer a refresh than asyncio's own loop
    (bench/sip/README.md). None: asyncio's default."""
    try:
        import uvloop
    except ImportError:  # uvloop is not installed on Windows
        return None
    factory: Callable[[], AbstractEventLoop] = uvloop.new_event_loop
    return factory


def cmd_engine_status(args: argparse.Namespace) -> int:
    """What the running engines of this database report (their rows in ``processes``)."""
    from trunkline.cli.common import Context, emit, run
    from trunkline.engine.runtime import listeners_text
    from trunkline.storage.processes import ENGINE, ProcessRecord

    async def work(ctx: Context) -> list[ProcessRecord]:
        return await ctx.store.processes.live(ENGINE)

    records = run(args, work)
    data = [
        {"pid": r.pid, "node": r.node, "since": r.started_at, "updated": r.updated_at, **r.data}
        for r in records
    ]
    text = []
    for row in data:
        counts = row.get("cloud_lines", {})
        client = row.get("client", {})
        office = row.get("office", {})
        text += [
            f"SIP engine: pid {row['pid']} on {row['node']}",
            f"  registrar: {listeners_text(row.get('registrar'))}",
            "  cloud lines: "
            + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("registered", "failed", "waiting")),
            "  client: " + (", ".join(f"{k} {v}" for k, v in client.items()) or "-"),
            "  registrar requests: " + (", ".join(f"{k} {v}" for k, v in office.items()) or "-"),
        ]
    emit(args, data, "\n".join(text) or "SIP engine: not running (none recorded as live)")
    return 0 if records else 1


def register(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the HTTP server (migrates and seeds on first start)",
        description="Run the HTTP server. On an empty database, create the default portal, "
        "administrator user 1 (login admin, with a sign-in password printed once) and a "
        "telephony webhook, and print its URL.",
    )
    options(serve, json_flag=False, portal=None)
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8080; 0: a free one)")
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
    serve.add_argument(
        "--operator-token",
        help="bearer token of the /operator/ endpoints (auto: derived from the secret key "
        "and printed)",
    )
    serve.add_argument(
        "--seed",
        dest="seed_file",
        metavar="FILE",
        help="a scenario document (JSON) whose portal is created at start if missing",
    )
    serve.add_argument(
        "--seed-ids",
        type=int,
        metavar="N",
        help="make generated codes, secrets, tokens and CALL_IDs reproducible from seed N",
    )
    serve.add_argument(
        "--admin-password",
        help="the administrator's sign-in password on a freshly seeded database "
        "(default: TRUNKLINE_ADMIN_PASSWORD, else a random one printed once)",
    )
    serve.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a certificate from a local CA (made once, beside the database); "
        "prints the SSL_CERT_FILE, REQUESTS_CA_BUNDLE and NODE_EXTRA_CA_CERTS lines",
    )
    serve.add_argument("--tls-dir", help="where --tls keeps its CA and certificate")
    serve.add_argument("--log-level", type=str.lower, help=LOG_LEVEL_HELP)
    serve.add_argument("--log-format", type=str.lower, help=LOG_FORMAT_HELP)
    serve.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (URLs, ports, pid, registrar, token) instead of the banner",
    )
    serve.set_defaults(func=cmd_serve)

    engine = sub.add_parser(
        "engine",
        help="run only the SIP engine (registrations and the office registrar), or show it",
        description="Run the SIP engine in its own process: it keeps cloud lines registered, "
        "serves office PBXs, and picks up line changes by scanning the database. "
        "`trunkline engine status` shows the running engines instead.",
    )
    options(engine, json_flag=False, portal=None)
    engine.add_argument("--log-level", type=str.lower, help=LOG_LEVEL_HELP)
    engine.add_argument("--log-format", type=str.lower, help=LOG_FORMAT_HELP)
    engine.set_defaults(func=cmd_engine)
    actions = engine.add_subparsers(dest="engine_command", required=False)
    status = actions.add_parser(
        "status",
        help="show the running SIP engines: registrar listeners, lines, counters",
        description="Show each running SIP engine of this database (inside `serve` or on its "
        "own): its registrar listeners, cloud lines registered, failed and waiting, and its "
        "counters. Exit status 1 when none runs.",
    )
    options(status, portal=None)
    status.set_defaults(func=cmd_engine_status)
