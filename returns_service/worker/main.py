"""The worker process: builds the adapters from settings and runs the return workflow."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from returns_service.activities.builtin import (
    LedgerPayments,
    OutboxEmail,
    StoreCarrier,
    StoreInventory,
)
from returns_service.activities.returns import ReturnActivities
from returns_service.activities.smtp import EmailRelay
from returns_service.activities.stripe import StripeRefunds
from returns_service.activities.webhooks import WebhookActivities
from returns_service.config import Settings
from returns_service.runtime import freeze_startup_objects
from returns_service.store.db import create_engine, migrate_async, session_factory
from returns_service.temporal import connect
from returns_service.workflows.returns import ReturnWorkflow
from returns_service.workflows.webhooks import WebhookDeliveryWorkflow

log = logging.getLogger(__name__)


def build_activities(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> ReturnActivities:
    """The one place where adapters are chosen from settings."""
    processor = None
    if settings.payments == "stripe" and settings.stripe_api_key is not None:
        processor = StripeRefunds(
            settings.stripe_api_key.get_secret_value(), settings.stripe_api_base
        )
    return ReturnActivities(
        sessions=sessions,
        carrier=StoreCarrier(sessions),
        payments=LedgerPayments(sessions, processor),
        inventory=StoreInventory(sessions),
        email=OutboxEmail(sessions, settings.email_folder()),
        public_url=settings.public_url,
        email_templates=settings.email_templates,
        webhooks=WebhookActivities(sessions, settings.webhooks_allow_private),
    )


def build_worker(client: Client, settings: Settings, activities: ReturnActivities) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ReturnWorkflow, WebhookDeliveryWorkflow],
        activities=activities.all(),
        max_concurrent_activities=50,
        # A worker that died hands its cached returns on to another one after this long (the
        # SDK's default is 10 s), so a crash delays the returns it held by seconds, not more.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
    )


async def run_worker(settings: Settings) -> None:
    await migrate_async(settings.store_url())
    engine = create_engine(settings.store_url())
    client = await connect(settings)
    worker = build_worker(client, settings, build_activities(settings, session_factory(engine)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    freeze_startup_objects()
    log.info("worker polling task queue %s at %s", settings.task_queue, settings.temporal_address)
    relay = None
    if settings.smtp_host:
        relay = asyncio.create_task(EmailRelay(session_factory(engine), settings).run(stop))
        log.info("sending email through %s:%d", settings.smtp_host, settings.smtp_port)
    async with worker:
        await stop.wait()
    if relay is not None:
        await relay
    await engine.dispose()
