"""The built-in carrier adapter: labels kept in the store (one per return, served by the API), a
PDF rendered here (addresses, return number, tracking number as barcode and QR) unless a carrier's
API makes it (`carrier.py`)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from temporalio.exceptions import ApplicationError

from returns_service import metrics
from returns_service.activities.ports import (
    BoughtLabel,
    LabelSource,
)
from returns_service.domain.ids import derived
from returns_service.domain.messages import CreateLabel
from returns_service.domain.models import Address, Label, ReturnMethod
from returns_service.store.db import Sessions
from returns_service.store.orders import claim_tracking_number, get_orders
from returns_service.store.tables import (
    CarrierShipmentRow,
    LabelRow,
)
from returns_service.store.upsert import insert_once


class RenderedLabels:
    """The built-in carrier: a tracking number from the return, and a PDF rendered here when the
    label is first downloaded (`documents/label_pdf.py`), not in the step that makes it."""

    name = "builtin"

    async def buy(self, request: CreateLabel) -> BoughtLabel:
        key = label_key(request)
        tracking_number = "RT" + derived(key, 14).upper()
        code = (
            "DO" + derived(f"drop-off:{key}", 12).upper()
            if request.method is ReturnMethod.QR_DROP_OFF
            else None
        )
        return BoughtLabel(
            carrier=self.name, tracking_number=tracking_number, pdf=None, drop_off_code=code
        )


def label_key(request: CreateLabel) -> str:
    """What makes a label one of a kind: its return, and which of the return's labels it is
    (an expired return's new label is another)."""
    if request.attempt == 1:
        return request.return_id
    return f"{request.return_id}:{request.attempt}"


class StoreCarrier:
    """Labels kept in the store (one per return, served by the API), made by a label source:
    the built-in renderer unless a carrier API is configured."""

    def __init__(
        self,
        sessions: Sessions,
        source: LabelSource | None = None,
        return_address: Address | None = None,
    ) -> None:
        self.sessions = sessions
        self.source: LabelSource = source or RenderedLabels()
        self.return_address = return_address

    async def create_label(self, request: CreateLabel) -> Label:
        """The return's label, bought once per attempt: a second one (for an expired return)
        takes the first one's place."""
        row = await self._saved(request.return_id)
        if row is None or row.attempt < request.attempt:
            addressed = await self._addressed(request)
            bought = await self.source.buy(addressed)
            values = {
                "carrier": bought.carrier,
                "tracking_number": bought.tracking_number,
                "pdf": bought.pdf,
                "spec": addressed.model_dump(mode="json") if bought.pdf is None else None,
                "created_at": request.created_at,
                "expires_at": request.expires_at,
                "drop_off_code": bought.drop_off_code,
                "attempt": request.attempt,
            }
            async with self.sessions.begin() as session:
                await insert_once(
                    session,
                    LabelRow,
                    {
                        "id": f"lbl_{derived(request.return_id, 20)}",
                        "return_id": request.return_id,
                        **values,
                    },
                )
                await session.execute(
                    update(LabelRow)
                    .where(
                        LabelRow.return_id == request.return_id,
                        LabelRow.attempt < request.attempt,
                    )
                    .values(**values)
                )
                await claim_tracking_number(
                    session, bought.tracking_number, request.return_id, request.created_at
                )
            metrics.LABELS.labels(bought.carrier).inc()
            row = await self._saved(request.return_id)
            assert row is not None
        return Label(
            id=row.id,
            carrier=row.carrier,
            tracking_number=row.tracking_number,
            expires_at=row.expires_at,
            drop_off_code=row.drop_off_code,
        )

    async def refund_labels(self, return_id: str) -> list[str]:
        """Each label of the return bought from a carrier that refunds (EasyPost) and not yet
        refunded: asked for its money back, once (kept with the shipment)."""
        refund = getattr(self.source, "refund", None)
        if refund is None:
            return []
        async with self.sessions() as session:
            bought = (
                await session.scalars(
                    select(CarrierShipmentRow).where(
                        CarrierShipmentRow.return_id == return_id,
                        CarrierShipmentRow.refunded_at.is_(None),
                    )
                )
            ).all()
        statuses = []
        for row in bought:
            try:
                statuses.append(await refund(row.shipment_id))
                metrics.LABELS_REFUNDED.labels(statuses[-1]).inc()
            except ApplicationError as refused:  # never bought, or used: nothing to get back
                statuses.append(f"refused: {refused.message}")
                metrics.LABELS_REFUNDED.labels("refused").inc()
            async with self.sessions.begin() as session:
                await session.execute(
                    update(CarrierShipmentRow)
                    .where(CarrierShipmentRow.label_key == row.label_key)
                    .values(refunded_at=datetime.now(UTC))
                )
        return statuses

    async def _addressed(self, request: CreateLabel) -> CreateLabel:
        """From where the (first) order went, to the shop's return address."""
        async with self.sessions() as session:
            orders = await get_orders(session, [item.order_id for item in request.items])
        sender = next(
            (
                orders[item.order_id].shipping_address
                for item in request.items
                if item.order_id in orders and orders[item.order_id].shipping_address
            ),
            None,
        )
        return request.model_copy(
            update={
                "from_address": request.from_address or sender,
                "to_address": request.to_address or self.return_address,
            }
        )

    async def _saved(self, return_id: str) -> LabelRow | None:
        async with self.sessions() as session:
            return await session.scalar(select(LabelRow).where(LabelRow.return_id == return_id))
