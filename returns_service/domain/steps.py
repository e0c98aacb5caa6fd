"""What the workflows ask the world to do: each activity's name, input and result, as typed
declarations. The workflows call them by these references (`workflow.execute_activity_method`),
so the type checker sees every call; the worker's implementations subclass them, so it sees each
implementation agree. Nothing here does anything."""

from __future__ import annotations

from typing import Protocol

from temporalio import activity

from returns_service.domain.messages import (
    CreateLabel,
    Drained,
    DrainWebhooks,
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
    WebhookActivity,
)
from returns_service.domain.models import Label


class ReturnSteps(Protocol):
    @activity.defn(name=ReturnActivity.REGISTER)
    async def register_return(self, request: RegisterReturn) -> RegisteredReturn:
        """Number the return and reserve its units (or say they are gone); emits `requested`."""
        ...

    @activity.defn(name=ReturnActivity.ENTITLE)
    async def entitle_refund(self, request: EntitleRefund) -> Entitled:
        """What the return may pay back per order, reckoned from every return of its orders."""
        ...

    @activity.defn(name=ReturnActivity.CREATE_LABEL)
    async def create_label(self, request: CreateLabel) -> Label:
        """The return's shipping label (made once, kept in the store)."""
        ...

    @activity.defn(name=ReturnActivity.REFUND_LABEL)
    async def refund_label(self, request: RefundLabel) -> LabelRefunded:
        """Ask the carrier to refund the return's bought labels that were never used."""
        ...

    @activity.defn(name=ReturnActivity.RESTOCK)
    async def restock_items(self, request: RestockItems) -> RestockResult:
        """Put what came back in good condition back in stock, once per item."""
        ...

    @activity.defn(name=ReturnActivity.REFUND)
    async def issue_refund(self, request: IssueRefund) -> RefundResult:
        """Pay back, once per key, against the orders' captures."""
        ...

    @activity.defn(name=ReturnActivity.SETTLE_REFUNDS)
    async def settle_refunds(self, request: SettleRefunds) -> RefundResult:
        """The return's refunds as the payment side knows them now (pending ones asked about)."""
        ...

    @activity.defn(name=ReturnActivity.HOLD_ITEMS)
    async def hold_items(self, request: HoldItems) -> RegisteredFacts:
        """Hold the items' units for the return again, or for the first time; all or none."""
        ...

    @activity.defn(name=ReturnActivity.RELEASE_ITEMS)
    async def release_items(self, request: ReleaseItems) -> None:
        """Items the return was refused: they hold nothing and are not its."""
        ...

    @activity.defn(name=ReturnActivity.RECORD_STATUS)
    async def record_status(self, request: RecordStatus) -> None:
        """Project the return into the read model and plan who hears of its event."""
        ...


class WebhookSteps(Protocol):
    @activity.defn(name=WebhookActivity.DRAIN)
    async def drain(self, request: DrainWebhooks) -> Drained:
        """Deliver what is due to one endpoint."""
        ...
