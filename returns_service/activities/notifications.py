"""Who hears of a return's status change, in one place: the webhook endpoints subscribed to its
event (the event and a delivery for each, written in the transaction that records the status,
then their queues woken) and the customer (an email kept in the outbox in that same transaction,
which the email relay sends).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from returns_service import metrics
from returns_service.activities.emails import Brand, status_email
from returns_service.activities.ports import Email
from returns_service.activities.webhooks import plan_deliveries
from returns_service.domain.models import ReturnState
from returns_service.domain.status import Status
from returns_service.gateway import wake_endpoints
from returns_service.store.entitlements import breakdown
from returns_service.store.orders import current_policy
from returns_service.store.returns import record_event

# The events that are a status of their own (`return.approved`, not `return.refund_failed`).
STATUSES = {status.value for status in Status}


class Notifications:
    def __init__(
        self,
        email: Email,
        public_url: str,
        templates: Path | None = None,
        brand: Brand | None = None,
        link_key: bytes | None = None,
    ) -> None:
        self.email = email
        self.link_key = link_key
        self.public_url = public_url.rstrip("/")
        self.templates = templates
        self.brand = brand or Brand()

    async def plan(
        self,
        session: AsyncSession,
        state: ReturnState,
        event: str | None,
        data: dict[str, Any] | None = None,
    ) -> list[str]:
        """In the caller's transaction: keep the event this version of the return emits, plan
        its webhook deliveries and keep the customer's email for the status (once, by its key);
        answers the endpoints to wake once it has committed. A step repeated after it committed
        finds the event kept and plans nothing again. `data` is the state as JSON, if made."""
        if event is None:
            return []
        kept = await record_event(session, state, event, data)
        if kept is None:
            return []
        status = event.removeprefix("return.")
        if status in STATUSES:
            metrics.STATUS_CHANGES.labels(status).inc()
        endpoints = await plan_deliveries(session, kept)
        store = (await current_policy(session)).store(state.store_id) if state.store_id else None
        parts = await breakdown(session, state.id) if state.refunded_amount else None
        try:
            message = status_email(
                state,
                self.public_url,
                self.templates,
                self.brand,
                store,
                event=event,
                link_key=self.link_key,
                parts=parts,
            )
        except Exception:  # a template that cannot render must not hold the return up
            activity.logger.exception("the status email of %s could not be made", state.id)
            return endpoints
        if message is not None:
            await self.email.keep(session, message)
        return endpoints

    @staticmethod
    async def wake(endpoints: list[str]) -> None:
        """After the commit: wake the queues of the endpoints that have deliveries to make."""
        if endpoints:
            await wake_endpoints(activity.client(), activity.info().task_queue, endpoints)
