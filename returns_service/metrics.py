"""The service's own Prometheus metrics (prometheus-client), each process serving them on a port
of its own (`RETURNS_METRICS_PORT`; `returns dev` prints them): what ops page on. The worker
counts what the returns do (status changes, refunds paid and failed, store credit bonuses); the
API times its requests by route template and counts the returns created and sign-in failures.
Counters count what was kept once (an activity repeated after it committed counts nothing
again)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from returns_service.domain.status import Status
from returns_service.store.tables import OutboxEmailRow, ReturnRow, WebhookDeliveryRow

log = logging.getLogger(__name__)

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
LABELS = Counter(
    "returns_labels",
    "Return labels bought (a built-in one made here counts as `builtin`), by carrier.",
    ["carrier"],
)
LABELS_REFUNDED = Counter(
    "returns_label_refunds",
    "Unused labels asked back from the carrier, by its answer (or `refused`).",
    ["outcome"],
)
WEBHOOK_ATTEMPTS = Counter(
    "returns_webhook_attempts",
    "Webhook delivery attempts, by outcome: delivered, retried (to be tried again), gone (410).",
    ["outcome"],
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


# Read from the store by the API every few seconds (cheap: a count per status, an oldest row).
IN_STATUS = Gauge("returns_in_status", "Returns now in each status.", ["status"])
WEBHOOK_OLDEST = Gauge(
    "returns_webhook_oldest_pending_seconds",
    "Per endpoint, the age of its oldest delivery still pending (0: none).",
    ["endpoint"],
)
EMAIL_OLDEST = Gauge(
    "returns_email_outbox_oldest_pending_seconds",
    "The age of the oldest customer email not yet sent (0: none).",
)
BACKLOG_EVERY = 5.0


async def read_backlogs(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Set the gauges from the store as it is now."""
    now = datetime.now(UTC)
    async with sessions() as session:
        counts = dict(
            (
                await session.execute(
                    select(ReturnRow.status, func.count()).group_by(ReturnRow.status)
                )
            )
            .tuples()
            .all()
        )
        oldest = (
            (
                await session.execute(
                    select(WebhookDeliveryRow.endpoint_id, func.min(WebhookDeliveryRow.created_at))
                    .where(WebhookDeliveryRow.status == "pending")
                    .group_by(WebhookDeliveryRow.endpoint_id)
                )
            )
            .tuples()
            .all()
        )
        email = await session.scalar(
            select(func.min(OutboxEmailRow.created_at)).where(OutboxEmailRow.status == "pending")
        )
    for status in Status:
        IN_STATUS.labels(status.value).set(counts.get(status.value, 0))
    waiting = {endpoint: _age(now, at) for endpoint, at in oldest}
    for endpoint in {*waiting, *_labelled(WEBHOOK_OLDEST)}:
        WEBHOOK_OLDEST.labels(endpoint).set(waiting.get(endpoint, 0.0))
    EMAIL_OLDEST.set(_age(now, email) if email is not None else 0.0)


def _age(now: datetime, at: datetime) -> float:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max((now - at).total_seconds(), 0.0)


def _labelled(gauge: Gauge) -> set[str]:
    """The endpoints a gauge has a series for already (so that an emptied queue reads 0)."""
    return {sample.labels["endpoint"] for family in gauge.collect() for sample in family.samples}


async def watch_backlogs(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Keep the gauges current while the process runs; a failed read is logged and tried again."""
    while True:
        try:
            await read_backlogs(sessions)
        except Exception:  # the store is away for a moment: the next read sets them again
            log.warning("the metrics could not read the store", exc_info=True)
        await asyncio.sleep(BACKLOG_EVERY)


def serve(port: int | None, host: str = "127.0.0.1") -> None:
    """Serve /metrics on `port` (None: not at all), beside the process's own work."""
    if port is not None:
        start_http_server(port, addr=host)
