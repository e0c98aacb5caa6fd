"""The return workflow's activities: thin, each translates and calls one port or the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from returns_service.activities.emails import status_email
from returns_service.activities.ports import Carrier, Email, Inventory, Payments
from returns_service.domain.messages import (
    CreateLabel,
    IssueRefund,
    RecordStatus,
    RefundResult,
    RegisteredReturn,
    RegisterReturn,
    RestockItems,
    RestockResult,
    ReturnActivity,
)
from returns_service.domain.models import Label
from returns_service.store.returns import project_return, register_return


class ReturnActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        carrier: Carrier,
        payments: Payments,
        inventory: Inventory,
        email: Email,
        public_url: str,
    ) -> None:
        self.sessions = sessions
        self.carrier = carrier
        self.payments = payments
        self.inventory = inventory
        self.email = email
        self.public_url = public_url.rstrip("/")

    @activity.defn(name=ReturnActivity.REGISTER)
    async def register_return(self, request: RegisterReturn) -> RegisteredReturn:
        async with self.sessions.begin() as session:
            return await register_return(session, request)

    @activity.defn(name=ReturnActivity.CREATE_LABEL)
    async def create_label(self, request: CreateLabel) -> Label:
        return await self.carrier.create_label(request)

    @activity.defn(name=ReturnActivity.RESTOCK)
    async def restock_items(self, request: RestockItems) -> RestockResult:
        return RestockResult(restocked=await self.inventory.restock(request))

    @activity.defn(name=ReturnActivity.REFUND)
    async def issue_refund(self, request: IssueRefund) -> RefundResult:
        return RefundResult(refunds=await self.payments.refund(request))

    @activity.defn(name=ReturnActivity.RECORD_STATUS)
    async def record_status(self, request: RecordStatus) -> None:
        async with self.sessions.begin() as session:
            await project_return(session, request.state)
        message = status_email(request.state, self.public_url)
        if message is not None:
            await self.email.send(message)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.register_return,
            self.create_label,
            self.restock_items,
            self.issue_refund,
            self.record_status,
        ]
