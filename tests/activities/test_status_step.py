"""The status step repeated (Temporal retries it after a failure that came after its commit)
plans nothing twice: an endpoint created in between never gets an event from before it existed
(issue 10, item 12)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from returns_service.config import Settings
from returns_service.domain.messages import RecordStatus
from returns_service.domain.models import Status
from returns_service.store.tables import WebhookDeliveryRow
from returns_service.worker.main import build_activities
from tests.factories import a_return_state, endpoint_row, webhook_secret

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


async def test_a_repeated_status_step_plans_no_webhook_again(sessions, tmp_path: Path):
    activities = build_activities(Settings(data_dir=tmp_path), sessions)
    state = a_return_state("ret_once", Status.APPROVED, 1, at=NOW)
    step = RecordStatus(state=state, event="return.approved")
    await activities.record_status(step)
    async with sessions.begin() as session:
        session.add(
            endpoint_row(
                "we_later", "https://93.184.216.34/h", ["return.approved"], webhook_secret()
            )
        )
    await activities.record_status(step)  # the same step, retried
    async with sessions() as session:
        planned = (await session.scalars(select(WebhookDeliveryRow))).all()
    assert planned == []
