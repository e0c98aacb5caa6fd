"""The return workflow's activities: thin, each translates and calls one port or the store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import DataError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from returns_service.activities.emails import Brand
from returns_service.activities.notifications import Notifications
from returns_service.activities.ports import Carrier, Email, Inventory, Payments
from returns_service.activities.webhooks import WebhookActivities
from returns_service.domain.messages import (
    CreateLabel,
    Entitled,
    EntitleRefund,
    HoldItems,
    IssueRefund,
    LabelRefunded,
    RecordStatus,
    RefundLabel,
    RefundResult,
    RegisteredFacts,
    RegisteredReturn,
    RegisterReturn,
    ReleaseItems,
    RestockItems,
    RestockResult,
    ReturnActivity,
    SettleRefunds,
)
from returns_service.domain.models import Label
from returns_service.domain.status import Status, status_event
from returns_service.domain.steps import ReturnSteps
from returns_service.store.entitlements import entitle_return
from returns_service.store.returns import (
    hold_items,
    project_return,
    register_return,
    release_items,
)

T = TypeVar("T")


@contextlib.contextmanager
def bad_data_is_final() -> Iterator[None]:
    """Data the store can never take (too long, a NUL, out of range) fails the step for good:
    asking again would fail the same way forever while the return waits. The workflow records
    the failure on the return, where an agent sees it, and goes on."""
    try:
        yield
    except (DataError, ValueError, OverflowError, UnicodeError, TypeError) as error:
        raise ApplicationError(
            f"the store cannot keep this data: {error}"[:500], type="BadData", non_retryable=True
        ) from error
    except StatementError as error:
        # PostgreSQL's class 22 (data exception): a NUL, a string too long, out of range.
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        data_exception = isinstance(sqlstate, str) and sqlstate.startswith("22")
        if data_exception or isinstance(
            error.orig, ValueError | OverflowError | UnicodeError | TypeError
        ):
            raise ApplicationError(
                f"the store cannot keep this data: {error.orig}"[:500],
                type="BadData",
                non_retryable=True,
            ) from error
        raise


async def heartbeating(work: Awaitable[T], every: float = 1.0) -> T:
    """Await `work` while telling Temporal the worker is alive, so that a worker that dies is
    noticed within the heartbeat timeout, not the whole activity timeout."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        task.cancel()


class ReturnActivities(ReturnSteps):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        carrier: Carrier,
        payments: Payments,
        inventory: Inventory,
        email: Email,
        public_url: str,
        email_templates: Path | None = None,
        webhooks: WebhookActivities | None = None,
        brand: Brand | None = None,
        link_key: bytes | None = None,
    ) -> None:
        self.sessions = sessions
        self.carrier = carrier
        self.payments = payments
        self.inventory = inventory
        self.notifications = Notifications(email, public_url, email_templates, brand, link_key)
        self.webhooks = webhooks

    @activity.defn(name=ReturnActivity.REGISTER)
    async def register_return(self, request: RegisterReturn) -> RegisteredReturn:
        endpoints: list[str] = []
        with bad_data_is_final():
            async with self.sessions.begin() as session:
                registered = await register_return(session, request)
                if request.state is not None and registered.number is not None:
                    requested = request.state.model_copy(update={"number": registered.number})
                    endpoints = await self.notifications.plan(
                        session, requested, status_event(Status.REQUESTED)
                    )
        await self.notifications.wake(endpoints)
        return registered

    @activity.defn(name=ReturnActivity.HOLD_ITEMS)
    async def hold_items(self, request: HoldItems) -> RegisteredFacts:
        with bad_data_is_final():
            async with self.sessions.begin() as session:
                return await hold_items(session, request)

    @activity.defn(name=ReturnActivity.RELEASE_ITEMS)
    async def release_items(self, request: ReleaseItems) -> None:
        async with self.sessions.begin() as session:
            await release_items(session, request.return_id, request.item_ids)

    @activity.defn(name=ReturnActivity.ENTITLE)
    async def entitle_refund(self, request: EntitleRefund) -> Entitled:
        with bad_data_is_final():
            async with self.sessions.begin() as session:
                return await entitle_return(session, request)

    @activity.defn(name=ReturnActivity.CREATE_LABEL)
    async def create_label(self, request: CreateLabel) -> Label:
        return await self.carrier.create_label(request)

    @activity.defn(name=ReturnActivity.REFUND_LABEL)
    async def refund_label(self, request: RefundLabel) -> LabelRefunded:
        return LabelRefunded(statuses=await self.carrier.refund_labels(request.return_id))

    @activity.defn(name=ReturnActivity.RESTOCK)
    async def restock_items(self, request: RestockItems) -> RestockResult:
        with bad_data_is_final():
            return RestockResult(restocked=await self.inventory.restock(request))

    @activity.defn(name=ReturnActivity.REFUND)
    async def issue_refund(self, request: IssueRefund) -> RefundResult:
        return await heartbeating(self.payments.refund(request))

    @activity.defn(name=ReturnActivity.SETTLE_REFUNDS)
    async def settle_refunds(self, request: SettleRefunds) -> RefundResult:
        return await heartbeating(self.payments.settle(request.return_id))

    @activity.defn(name=ReturnActivity.RECORD_STATUS)
    async def record_status(self, request: RecordStatus) -> None:
        """The status change in the read model and who hears of it, in one transaction."""
        with bad_data_is_final():
            async with self.sessions.begin() as session:
                data = request.state.model_dump(mode="json")
                await project_return(session, request.state, data)
                endpoints = await self.notifications.plan(
                    session, request.state, request.event, data
                )
        await self.notifications.wake(endpoints)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.register_return,
            self.hold_items,
            self.release_items,
            self.entitle_refund,
            self.create_label,
            self.refund_label,
            self.restock_items,
            self.issue_refund,
            self.settle_refunds,
            self.record_status,
            *(self.webhooks.all() if self.webhooks else []),
        ]
