"""The built-in adapters of the embedded default: everything lives in the store.

- payments: a ledger of refunds against the order's captures, one row per refund part, keyed by
  `refund:{return_id}:{n}:{order_id}:{capture}` under a unique constraint (and, with a payment
  processor configured, the same key sent to it);
- carrier: a PDF label (addresses, return number, tracking number as barcode and QR), kept in
  the store and served by the API; a carrier's API can make it instead (`carrier.py`);
- inventory: stock levels per SKU and location, each restock keyed `restock:{return_id}:{item}`
  (and, with a warehouse system configured, told to it under that key by the WMS relay);
- email: rendered messages in an outbox table (which the SMTP relay sends from, when there is an
  SMTP server), and as .eml files when a folder is given.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from returns_service.activities.label_pdf import render_label
from returns_service.activities.ports import (
    BoughtLabel,
    EmailMessage,
    LabelSource,
    ProcessorRefund,
    RefundProcessor,
)
from returns_service.domain.messages import CreateLabel, IssueRefund, RefundResult, RestockItems
from returns_service.domain.models import Address, Capture, Label, Refund, RefundMethod
from returns_service.domain.refunds import CaptureBalance, InsufficientCaptures, allocate
from returns_service.store.entitlements import entitlements
from returns_service.store.orders import claim_tracking_number, get_orders
from returns_service.store.tables import (
    CaptureRow,
    LabelRow,
    LedgerEntryRow,
    OutboxEmailRow,
    StockLevelRow,
    StockMovementRow,
    WmsOutboxRow,
)
from returns_service.store.upsert import add_to, insert_once

Sessions = async_sessionmaker[AsyncSession]


def _digest(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


class LedgerPayments:
    """Refunds as ledger entries, one per part, each under its key. Without a processor the
    ledger is the payment side and an entry is paid when written. With one (Stripe), an entry is
    written `pending` before the processor is asked, under the same key the processor gets, so a
    worker that dies in between asks again with that key and never pays twice."""

    def __init__(
        self,
        sessions: Sessions,
        processor: RefundProcessor | None = None,
        pending_wait: float = 20.0,
    ) -> None:
        self.sessions = sessions
        self.processor = processor
        # How long a refund call waits for a `pending` refund to settle before it answers with
        # it pending (the next refund call, or a later look, settles it).
        self.pending_wait = pending_wait

    async def refund(self, request: IssueRefund) -> RefundResult:
        if self.processor is not None:
            # Earlier parts whose answer was lost first: the guard below must know what they did.
            await self._settle(request.return_id, self.processor)
        async with self.sessions.begin() as session:
            refusal = None
            if not await self._rows(session, request.return_id, request.sequence):
                refusal = await self._enter_all(session, request)
                if refusal is None:
                    await self._check_total(session, request)
        if self.processor is not None:
            await self._settle(request.return_id, self.processor)
            await self._follow_pending(request.return_id, self.processor)
        async with self.sessions.begin() as session:
            rows = await self._rows(session, request.return_id)
        failures = [
            f"{row.capture_id or row.method}: {row.failure or 'refused'}"
            for row in rows
            if row.sequence == request.sequence and row.status == "failed"
        ]
        return RefundResult(
            refunds=[_refund(row) for row in rows],
            failures=[refusal] if refusal else failures,
        )

    async def _enter_all(self, session: AsyncSession, request: IssueRefund) -> str | None:
        """Write the refund's parts; or, when it would take the return beyond what it may refund
        (the workflow lost count), write nothing and say why."""
        status = "pending" if self.processor is not None else "succeeded"
        for part in request.amounts:
            await get_orders(session, [part.order_id], lock=True)
            # What the return may pay back for the order in all: its entitlement, reckoned under
            # this lock from every return of the order (the workflow's figure for returns
            # entitled before there were entitlements).
            entitled = (await entitlements(session, request.return_id)).get(part.order_id)
            maximum = entitled.amount if entitled is not None else part.maximum
            if maximum is not None:
                spent = await self._spent(session, request.return_id, part.order_id)
                if spent + part.amount > maximum:
                    return (
                        f"a refund of {part.amount} for order {part.order_id} would take this"
                        f" return's refunds to {spent + part.amount}, above its {maximum}"
                    )
            # Store credit is money too: everything paid back for an order, in any form, stays
            # within what its captures hold.
            headroom = await self._headroom(session, part.order_id)
            if part.amount > headroom:
                raise ApplicationError(
                    f"refund of {part.amount} exceeds the {headroom} the captures still hold",
                    {"requested": part.amount, "available": headroom},
                    type="InsufficientCaptures",
                    non_retryable=True,
                )
            if request.method is RefundMethod.STORE_CREDIT:
                await self._enter(session, request, part.order_id, None, part.amount, "succeeded")
                continue
            try:
                shares = allocate(
                    part.amount, await self.balances(session, part.order_id), request.capture_id
                )
            except InsufficientCaptures as error:
                raise ApplicationError(
                    str(error),
                    {"requested": error.requested, "available": error.available},
                    type="InsufficientCaptures",
                    non_retryable=True,
                ) from error
            for share in shares:
                await self._enter(
                    session, request, part.order_id, share.capture_id, share.amount, status
                )
        return None

    async def _check_total(self, session: AsyncSession, request: IssueRefund) -> None:
        """The parts written must add up to what was asked, or nothing is written: a part lost
        to a key that collided would otherwise go unpaid without a word."""
        asked = sum(part.amount for part in request.amounts)
        written = sum(
            row.amount for row in await self._rows(session, request.return_id, request.sequence)
        )
        if written != asked:
            raise ApplicationError(
                f"the ledger holds {written} for refund {request.sequence} of"
                f" {request.return_id}, which asked for {asked}; nothing was paid",
                type="LedgerMismatch",
                non_retryable=True,
            )

    async def _settle(self, return_id: str, processor: RefundProcessor) -> None:
        """Ask the processor about every entry of the return still waiting for an answer."""
        async with self.sessions.begin() as session:
            waiting = (
                await session.scalars(
                    select(LedgerEntryRow)
                    .where(
                        LedgerEntryRow.return_id == return_id,
                        LedgerEntryRow.status == "pending",
                        LedgerEntryRow.provider_ref.is_(None),
                    )
                    .order_by(LedgerEntryRow.idempotency_key)
                )
            ).all()
        for row in waiting:
            assert row.capture_id is not None
            outcome = await processor.refund(
                ProcessorRefund(
                    key=row.idempotency_key,
                    capture_id=row.capture_id,
                    amount=row.amount,
                    currency=row.currency,
                    metadata={
                        "return_id": row.return_id,
                        "order_id": row.order_id,
                        "refund_sequence": str(row.sequence),
                    },
                )
            )
            async with self.sessions.begin() as session:
                await session.execute(
                    update(LedgerEntryRow)
                    .where(LedgerEntryRow.id == row.id)
                    .values(
                        status=outcome.status,
                        provider_ref=outcome.reference,
                        failure=(outcome.failure or "")[:500] or None,
                    )
                )

    async def _follow_pending(self, return_id: str, processor: RefundProcessor) -> None:
        """Ask about the return's refunds the processor answered `pending` until they settle or
        `pending_wait` runs out; a later failure frees the capture's money again."""
        deadline = asyncio.get_running_loop().time() + self.pending_wait
        pause = 0.5
        while True:
            async with self.sessions.begin() as session:
                waiting = (
                    await session.scalars(
                        select(LedgerEntryRow).where(
                            LedgerEntryRow.return_id == return_id,
                            LedgerEntryRow.status == "pending",
                            LedgerEntryRow.provider_ref.is_not(None),
                        )
                    )
                ).all()
            for row in waiting:
                assert row.provider_ref is not None
                outcome = await processor.status(row.provider_ref)
                if outcome.status != "pending":
                    async with self.sessions.begin() as session:
                        await session.execute(
                            update(LedgerEntryRow)
                            .where(LedgerEntryRow.id == row.id)
                            .values(status=outcome.status, failure=outcome.failure)
                        )
            if not waiting or asyncio.get_running_loop().time() + pause > deadline:
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def _spent(self, session: AsyncSession, return_id: str, order_id: str) -> int:
        """What this return's refunds have taken (or may have taken) for one order."""
        total = await session.scalar(
            select(func.sum(LedgerEntryRow.amount)).where(
                LedgerEntryRow.return_id == return_id,
                LedgerEntryRow.order_id == order_id,
                LedgerEntryRow.status != "failed",
            )
        )
        return int(total or 0)

    async def _headroom(self, session: AsyncSession, order_id: str) -> int:
        """What the order's captures hold less everything paid back for it (store credit
        included, and what may have been paid: pending counts)."""
        captured = await session.scalar(
            select(func.coalesce(func.sum(CaptureRow.amount), 0)).where(
                CaptureRow.order_id == order_id
            )
        )
        paid = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntryRow.amount), 0)).where(
                LedgerEntryRow.order_id == order_id, LedgerEntryRow.status != "failed"
            )
        )
        return int(captured or 0) - int(paid or 0)

    async def balances(self, session: AsyncSession, order_id: str) -> list[CaptureBalance]:
        """Each capture of the order, with what refunds of any return have left in it (a refund
        whose outcome is not known yet counts as paid)."""
        captures = (
            await session.scalars(select(CaptureRow).where(CaptureRow.order_id == order_id))
        ).all()
        refunded = dict(
            (
                await session.execute(
                    select(LedgerEntryRow.capture_id, func.sum(LedgerEntryRow.amount))
                    .where(
                        LedgerEntryRow.order_id == order_id,
                        LedgerEntryRow.method == RefundMethod.ORIGINAL_PAYMENT.value,
                        LedgerEntryRow.status != "failed",
                    )
                    .group_by(LedgerEntryRow.capture_id)
                )
            ).all()
        )
        return [
            CaptureBalance(
                capture=Capture(
                    id=row.id, amount=row.amount, captured_at=row.captured_at, method=row.method
                ),
                remaining=row.amount - int(refunded.get(row.id) or 0),
            )
            for row in captures
        ]

    async def _enter(
        self,
        session: AsyncSession,
        request: IssueRefund,
        order_id: str,
        capture_id: str | None,
        amount: int,
        status: str,
    ) -> None:
        key = refund_key(request.return_id, request.sequence, order_id, capture_id)
        await insert_once(
            session,
            LedgerEntryRow,
            {
                "id": f"rf_{_digest(key, 20)}",
                "idempotency_key": key,
                "return_id": request.return_id,
                "sequence": request.sequence,
                "order_id": order_id,
                "capture_id": capture_id,
                "method": request.method.value,
                "amount": amount,
                "currency": request.currency,
                "status": status,
                "created_at": request.requested_at,
            },
        )

    async def _rows(
        self, session: AsyncSession, return_id: str, sequence: int | None = None
    ) -> list[LedgerEntryRow]:
        query = select(LedgerEntryRow).where(LedgerEntryRow.return_id == return_id)
        if sequence is not None:
            query = query.where(LedgerEntryRow.sequence == sequence)
        query = query.order_by(LedgerEntryRow.sequence, LedgerEntryRow.idempotency_key)
        return list((await session.scalars(query)).all())


def refund_key(return_id: str, sequence: int, order_id: str, capture_id: str | None) -> str:
    """`refund:{return}:{n}:{order}:{capture or store_credit}`, each part escaped, so that ids
    holding `:` can never make two parts one key (ids without `:` or `%` read as they are)."""
    parts = (return_id, str(sequence), order_id, capture_id or "store_credit")
    return "refund:" + ":".join(quote(part, safe="") for part in parts)


def _refund(row: LedgerEntryRow) -> Refund:
    return Refund(
        id=row.id,
        amount=row.amount,
        order_id=row.order_id,
        capture_id=row.capture_id,
        method=RefundMethod(row.method),
        status=row.status,  # type: ignore[arg-type]
        created_at=row.created_at,
        failure_reason=row.failure,
    )


class RenderedLabels:
    """The built-in carrier: a label rendered here, with a tracking number from the return."""

    name = "builtin"

    async def buy(self, request: CreateLabel) -> BoughtLabel:
        tracking_number = "RT" + _digest(request.return_id, 14).upper()
        return BoughtLabel(
            carrier=self.name,
            tracking_number=tracking_number,
            pdf=render_label(request, self.name, tracking_number),
        )


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
        row = await self._saved(request.return_id)
        if row is None:
            bought = await self.source.buy(await self._addressed(request))
            async with self.sessions.begin() as session:
                await insert_once(
                    session,
                    LabelRow,
                    {
                        "id": f"lbl_{_digest(request.return_id, 20)}",
                        "return_id": request.return_id,
                        "carrier": bought.carrier,
                        "tracking_number": bought.tracking_number,
                        "pdf": bought.pdf,
                        "created_at": request.created_at,
                        "expires_at": request.expires_at,
                    },
                )
                await claim_tracking_number(
                    session, bought.tracking_number, request.return_id, request.created_at
                )
            row = await self._saved(request.return_id)
            assert row is not None
        return Label(
            id=row.id,
            carrier=row.carrier,
            tracking_number=row.tracking_number,
            expires_at=row.expires_at,
        )

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


class StoreInventory:
    """Stock levels in the store. With a warehouse system to tell (`tell_wms`), each restock
    also goes to the WMS outbox in the same transaction, for the WMS relay to send."""

    def __init__(self, sessions: Sessions, tell_wms: bool = False) -> None:
        self.sessions = sessions
        self.tell_wms = tell_wms

    async def restock(self, request: RestockItems) -> dict[str, int]:
        async with self.sessions.begin() as session:
            for item in request.items:
                now = datetime.now(UTC)
                movement = {
                    "idempotency_key": f"restock:{request.return_id}:{item.item_id}",
                    "return_id": request.return_id,
                    "sku": item.sku,
                    "location": request.location,
                    "quantity": item.quantity,
                    "created_at": now,
                }
                moved = await insert_once(session, StockMovementRow, movement)
                if not moved:
                    continue
                if self.tell_wms:
                    await insert_once(session, WmsOutboxRow, {**movement, "next_attempt_at": now})
                await add_to(
                    session,
                    StockLevelRow,
                    {"sku": item.sku, "location": request.location, "quantity": item.quantity},
                    keys=["sku", "location"],
                    column="quantity",
                )
            rows = (
                await session.scalars(
                    select(StockMovementRow).where(StockMovementRow.return_id == request.return_id)
                )
            ).all()
            return {row.idempotency_key.rsplit(":", 1)[1]: row.quantity for row in rows}


class OutboxEmail:
    def __init__(self, sessions: Sessions, folder: Path | None = None) -> None:
        self.sessions = sessions
        self.folder = folder

    async def send(self, message: EmailMessage) -> None:
        async with self.sessions.begin() as session:
            await insert_once(
                session,
                OutboxEmailRow,
                {
                    "idempotency_key": message.key,
                    "return_id": message.return_id,
                    "recipient": message.to,
                    "subject": message.subject,
                    "body": message.body,
                    "html": message.html,
                    "created_at": datetime.now(UTC),
                    "status": "pending",
                    "next_attempt_at": datetime.now(UTC),
                },
            )
        if self.folder is not None:
            mime = MimeMessage()
            mime["To"] = message.to
            mime["Subject"] = message.subject
            mime.set_content(message.body)
            if message.html:
                mime.add_alternative(message.html, subtype="html")
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{message.key.replace(':', '_')}.eml").write_bytes(bytes(mime))
