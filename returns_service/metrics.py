"""The service's own Prometheus metrics (prometheus-client), each process serving them on a port
of its own (`RETURNS_METRICS_PORT`; `returns dev` prints them): what ops page on. The worker
counts what the returns do (status changes, refunds paid and failed, store credit bonuses); the
API times its requests by route template and counts the returns created and sign-in failures.
Counters count what was kept once (an activity repeated after it committed counts nothing
again)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

STATUS_CHANGES = Counter(
    "returns_status_changes",
    "Returns reaching a status (one count per return and status).",
    ["status"],
)
REFUNDS = Counter(
    "returns_refunds",
    "Refunds written to the ledger (paid, or sent to the processor), by currency and method.",
    ["currency", "method"],
)
REFUNDED = Counter(
    "returns_refunded_minor_units",
    "What refund parts paid back, in minor units of their currency.",
    ["currency", "method"],
)
REFUNDS_FAILED = Counter(
    "returns_refund_failures",
    "Refunds that failed (the payment side refused, or the ledger did).",
)
BONUSES = Counter(
    "returns_store_credit_bonus_minor_units",
    "The shop's bonus on store credit, in minor units of its currency.",
    ["currency"],
)
CREATED = Counter(
    "returns_created",
    "Returns created through the API, by resolution and method.",
    ["resolution", "method"],
)
SIGN_IN_FAILURES = Counter(
    "returns_sign_in_failures",
    "Sign-ins refused (portal and console).",
    ["kind"],
)
REQUESTS = Histogram(
    "returns_http_request_duration_seconds",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
)


def serve(port: int | None, host: str = "127.0.0.1") -> None:
    """Serve /metrics on `port` (None: not at all), beside the process's own work."""
    if port is not None:
        start_http_server(port, addr=host)
