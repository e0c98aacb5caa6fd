"""Who hears of a return's status change, in one place: the webhook endpoints subscribed to its
event (the event and a delivery for each, written in the transaction that records the status,
then their queues woken) and the customer (an email in the outbox, which the email relay sends).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from returns_service.activities.emails import status_email
from returns_service.activities.ports import Email
from returns_service.activities.webhooks import plan_deliveries
from returns_service.domain.models import ReturnState
from returns_service.gateway import wake_endpoints
from returns_service.store.returns import record_event


class Notifications:
    def __init__(self, email: Email, public_url: str, templates: Path | None = None) -> None:
        self.email = email
        self.public_url = public_url.rstrip("/")
        self.templates = templates

    @staticmethod
    async def plan(session: AsyncSession, state: ReturnState, event: str | None) -> list[str]:
        """Keep the event this version of the return emits and plan its webhook deliveries, in
        the caller's transaction; answers the endpoints to wake once it has committed. A step
        repeated after it committed finds the event kept and plans nothing again."""
        if event is None:
            return []
        row, fresh = await record_event(session, state, event)
        return await plan_deliveries(session, row) if fresh else []

    async def send(self, state: ReturnState, endpoints: list[str]) -> None:
        """After the commit: wake the endpoints' queues, and put the customer's email for this
        status in the outbox (once, by its key)."""
        if endpoints:
            await wake_endpoints(activity.client(), activity.info().task_queue, endpoints)
        try:
            message = status_email(state, self.public_url, self.templates)
        except Exception:  # a template that cannot render must not hold the return up
            activity.logger.exception("the status email of %s could not be made", state.id)
            return
        if message is not None:
            await self.email.send(message)
