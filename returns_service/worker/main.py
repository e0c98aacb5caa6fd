"""The worker process: builds the adapters from settings and runs the return workflow."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from returns_service import i18n
from returns_service.activities.carrier import HttpCarrier
from returns_service.activities.easypost import EasyPostLabels
from returns_service.activities.email_relay import EmailRelay
from returns_service.activities.emails import Brand
from returns_service.activities.labels import StoreCarrier
from returns_service.activities.ledger import LedgerPayments
from returns_service.activities.outbox import OutboxEmail
from returns_service.activities.ports import LabelSource
from returns_service.activities.relay import Relay
from returns_service.activities.returns import ReturnActivities
from returns_service.activities.shopify import ShopifyRefunds
from returns_service.activities.stock import StoreInventory
from returns_service.activities.stripe import StripeRefunds
from returns_service.activities.webhooks import WebhookActivities
from returns_service.activities.wms import WmsRelay
from returns_service.config import Settings
from returns_service.runtime import freeze_startup_objects
from returns_service.shopify.client import ShopifyClient
from returns_service.store.db import create_engine, migrate_async, session_factory
from returns_service.temporal import connect
from returns_service.workflows.returns import ReturnWorkflow
from returns_service.workflows.webhooks import WebhookEndpointWorkflow

log = logging.getLogger(__name__)


def build_activities(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> ReturnActivities:
    """The one place where adapters are chosen from settings."""
    i18n.configure(settings.locales_dir)
    processor = None
    if settings.payments == "stripe" and settings.stripe_api_key is not None:
        processor = StripeRefunds(
            settings.stripe_api_key.get_secret_value(), settings.stripe_api_base
        )
    labels: LabelSource | None = None
    if settings.carrier == "http" and settings.carrier_api_key is not None:
        labels = HttpCarrier(settings.carrier_api_base, settings.carrier_api_key.get_secret_value())
    if settings.carrier == "easypost" and settings.easypost_api_key is not None:
        labels = EasyPostLabels(
            sessions,
            settings.easypost_api_key.get_secret_value(),
            settings.easypost_api_base,
            carriers=settings.easypost_carriers,
            services=settings.easypost_services,
            parcel=settings.easypost_parcel,
        )
    shopify = None
    if settings.shopify_access_token is not None:
        shopify = ShopifyRefunds(
            ShopifyClient(
                settings.shopify_graphql_url(), settings.shopify_access_token.get_secret_value()
            ),
            sessions,
            settings.shopify_location_id,
        )
    logo = f"{settings.public_url.rstrip('/')}/portal/logo" if settings.shop_logo else None
    return ReturnActivities(
        sessions=sessions,
        carrier=StoreCarrier(sessions, labels, settings.return_address),
        payments=LedgerPayments(sessions, processor, shopify=shopify),
        inventory=StoreInventory(sessions, tell_wms=settings.inventory == "http"),
        email=OutboxEmail(),
        public_url=settings.public_url,
        email_templates=settings.email_templates,
        webhooks=WebhookActivities(sessions, settings.webhooks_allow_private),
        brand=Brand(
            name=settings.shop_name,
            accent=settings.shop_accent,
            logo_url=logo,
        ),
        link_key=settings.link_key(),
    )


def build_worker(client: Client, settings: Settings, activities: ReturnActivities) -> Worker:
    # Unsandboxed by default: the sandbox re-imports the workflow module for every return and
    # wraps every activation, a fifth of the worker's CPU under load (bench/lifecycle.py: 166 ->
    # 134 ms per return). The workflow tests run in the sandbox, and the replay tests replay
    # recorded histories, so a non-deterministic call still fails a test.
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ReturnWorkflow, WebhookEndpointWorkflow],
        activities=activities.all(),
        max_concurrent_activities=50,
        max_cached_workflows=settings.workflow_cache_size,
        workflow_runner=(
            SandboxedWorkflowRunner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()
        ),
        # A worker that died hands its cached returns on to another one after this long (the
        # SDK's default is 10 s), so a crash delays the returns it held by seconds, not more.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
    )


def store_engine(url: str, busy_seconds: float = 30) -> AsyncEngine:
    """The worker's store: on SQLite its steps take the one writer's place in turn (store/db.py)."""
    return create_engine(url, one_writer=True, busy_seconds=busy_seconds)


async def run_worker(settings: Settings) -> None:
    await migrate_async(settings.store_url())
    engine = store_engine(settings.store_url())
    client = await connect(settings)
    worker = build_worker(client, settings, build_activities(settings, session_factory(engine)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    freeze_startup_objects()
    for line in adapters_in_use(settings):
        log.info("%s", line)
    for line in missing_for_real_labels(settings):
        log.warning("%s", line)
    log.info("worker polling task queue %s at %s", settings.task_queue, settings.temporal_address)
    relays = [asyncio.create_task(relay.run(stop)) for relay in build_relays(settings, engine)]
    async with worker:
        await stop.wait()
    await asyncio.gather(*relays)
    await engine.dispose()


def adapters_in_use(settings: Settings) -> list[str]:
    """Which adapters the settings choose, in a line each (printed at start)."""
    carrier = {
        "builtin": "built-in (a PDF made here; no carrier has seen it)",
        "http": f"carrier HTTP API at {settings.carrier_api_base}",
        "easypost": f"EasyPost at {settings.easypost_api_base}"
        + (f" ({', '.join(settings.easypost_carriers)})" if settings.easypost_carriers else ""),
    }[settings.carrier]
    payments = {
        "builtin": "built-in ledger (no money leaves: pay refunds yourself)",
        "stripe": f"Stripe at {settings.stripe_api_base}",
    }[settings.payments]
    lines = [f"labels: {carrier}", f"refunds: {payments}"]
    if settings.shopify_shop:
        lines.append(
            f"orders: Shopify {settings.shopify_shop} (API {settings.shopify_api_version}),"
            " its webhooks on POST /v1/shopify/webhooks; orders paid there are refunded there"
        )
    else:
        lines.append("orders: pushed by the shop to PUT /v1/orders/{id}")
    return lines


def missing_for_real_labels(settings: Settings) -> list[str]:
    """What a label a carrier accepts still needs, in a line each (empty: nothing)."""
    missing = []
    if settings.carrier == "builtin":
        missing.append(
            "labels are made here: set RETURNS_CARRIER=easypost and RETURNS_EASYPOST_API_KEY"
            " for labels a carrier accepts"
        )
    if settings.return_address is None:
        missing.append(
            "no return address: set RETURNS_RETURN_ADDRESS (JSON: name, line1, postal_code,"
            " city, country, phone)"
            + ("; no EasyPost label is bought without it" if settings.carrier == "easypost" else "")
        )
    if settings.carrier == "easypost" and settings.easypost_webhook_secret is None:
        missing.append(
            "no RETURNS_EASYPOST_WEBHOOK_SECRET: tracking events from EasyPost are refused"
        )
    if settings.shopify_shop and settings.shopify_webhook_secret is None:
        missing.append("no RETURNS_SHOPIFY_WEBHOOK_SECRET: Shopify's order webhooks are refused")
    return missing


def build_relays(settings: Settings, engine: AsyncEngine) -> list[Relay]:
    """The outbox relays the settings ask for: email (as files, and over SMTP when a server is
    set), restocks to a WMS."""
    sessions = session_factory(engine)
    relays: list[Relay] = []
    relays.append(EmailRelay(sessions, settings, settings.email_folder()))
    log.info("keeping email as .eml files in %s", settings.email_folder())
    if settings.smtp_host:
        log.info("sending email through %s:%d", settings.smtp_host, settings.smtp_port)
    if settings.inventory == "http" and settings.wms_api_key is not None:
        relays.append(
            WmsRelay(sessions, settings.wms_api_base, settings.wms_api_key.get_secret_value())
        )
        log.info("telling the warehouse system at %s of restocks", settings.wms_api_base)
    return relays
