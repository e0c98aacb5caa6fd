"""The built-in payments adapter: a ledger of refunds against the orders' captures, one row per
refund part, keyed `refund:{return_id}:{n}:{order_id}:{capture}` (each part escaped) under a unique
constraint; with a payment processor configured (Stripe), the same key is sent to it."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.exceptions import ApplicationError

from returns_service import metrics
from returns_service.activities.ports import (
    ProcessorRefund,
    RefundProcessor,
)
from returns_service.domain.ids import derived
from returns_service.domain.messages import IssueRefund, RefundResult
from returns_service.domain.models import Capture, Refund, RefundMethod
from returns_service.domain.refunds import CaptureBalance, InsufficientCaptures, allocate
from returns_service.shopify.orders import paid_through_shopify
from returns_service.store.db import Sessions
from returns_service.store.entitlements import entitlements
from returns_service.store.orders import get_orders
from returns_service.store.tables import (
    CaptureRow,
    LedgerEntryRow,
    StoreCreditBonusRow,
)
from returns_service.store.upsert import insert_once


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
        shopify: RefundProcessor | None = None,
    ) -> None:
        self.sessions = sessions
        # The shop's payment processor (Stripe), and Shopify for the orders paid through it:
        # chosen per capture, by where it was paid.
        self.processor = processor
        self.shopify = shopify
        # How long a refund call waits for a `pending` refund to settle before it answers with
        # it pending (the next refund call, or a later look, settles it).
        self.pending_wait = pending_wait

    async def refund(self, request: IssueRefund) -> RefundResult:
        if self._asks:
            # Earlier parts whose answer was lost first: the guard below must know what they did.
            await self._ask_unanswered(request.return_id)
        entered = False
        async with self.sessions.begin() as session:
            refusal = None
            if not await self._rows(session, request.return_id, request.sequence):
                refusal = await self._enter_all(session, request)
                if refusal is None:
                    await self._check_total(session, request)
                    entered = True
        if entered:  # counted once it is kept (a repeat finds it and counts nothing)
            method = request.method.value
            metrics.REFUNDS.labels(request.currency, method).inc()
            metrics.REFUNDED.labels(request.currency, method).inc(
                sum(part.amount for part in request.amounts)
            )
        if self._asks:
            await self._ask_unanswered(request.return_id)
            await self._follow_pending(request.return_id)
        async with self.sessions.begin() as session:
            rows = await self._rows(session, request.return_id)
            bonus = await self._bonuses(session, request.return_id)
        failures = [
            f"{row.capture_id or row.method}: {row.failure or 'refused'}"
            for row in rows
            if row.sequence == request.sequence and row.status == "failed"
        ]
        if refusal or failures:
            metrics.REFUNDS_FAILED.inc()
        return RefundResult(
            refunds=[_refund(row) for row in rows],
            failures=[refusal] if refusal else failures,
            bonus=bonus,
        )

    async def settle(self, return_id: str) -> RefundResult:
        """The return's refunds as the payment side knows them now: with a processor, those
        still waiting for its answer are asked about once (a processor's events may have told
        the ledger already)."""
        if self._asks:
            await self._ask_unanswered(return_id)
            await self._follow_pending(return_id, wait=0)
        async with self.sessions.begin() as session:
            rows = await self._rows(session, return_id)
            bonus = await self._bonuses(session, return_id)
        return RefundResult(refunds=[_refund(row) for row in rows], bonus=bonus)

    async def _enter_all(self, session: AsyncSession, request: IssueRefund) -> str | None:
        """Write the refund's parts; or, when it would take the return beyond what it may refund
        (the workflow lost count), write nothing and say why."""
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
                asked = self._processor(share.capture_id) is not None
                await self._enter(
                    session,
                    request,
                    part.order_id,
                    share.capture_id,
                    share.amount,
                    "pending" if asked else "succeeded",
                )
        if request.method is RefundMethod.STORE_CREDIT and request.bonus_percent:
            await self._bonus(session, request)
        return None

    async def _bonus(self, session: AsyncSession, request: IssueRefund) -> None:
        """The shop's bonus on the store credit the customer chose, with the credit itself (in
        its transaction, under its key: a repeated refund issues none again)."""
        base = sum(part.amount for part in request.amounts)
        # Reckoned on all the return's store credit so far, so that a refund paid in parts
        # comes to the bonus of the whole (each part rounded down would lose a cent a part).
        credit = await session.scalar(
            select(func.sum(LedgerEntryRow.amount)).where(
                LedgerEntryRow.return_id == request.return_id,
                LedgerEntryRow.method == RefundMethod.STORE_CREDIT.value,
                LedgerEntryRow.status != "failed",
            )
        )
        amount = int(credit or 0) * request.bonus_percent // 100 - await self._bonuses(
            session, request.return_id
        )
        if amount <= 0:
            return
        metrics.BONUSES.labels(request.currency).inc(amount)
        await insert_once(
            session,
            StoreCreditBonusRow,
            {
                "idempotency_key": bonus_key(request.return_id, request.sequence),
                "return_id": request.return_id,
                "sequence": request.sequence,
                "percent": request.bonus_percent,
                "base_amount": base,
                "amount": amount,
                "currency": request.currency,
                "holder_email": request.holder,
                "created_at": request.requested_at,
            },
        )

    @staticmethod
    async def _bonuses(session: AsyncSession, return_id: str) -> int:
        """The bonus the return's store credit came with so far."""
        total = await session.scalar(
            select(func.sum(StoreCreditBonusRow.amount)).where(
                StoreCreditBonusRow.return_id == return_id
            )
        )
        return int(total or 0)

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

    @property
    def _asks(self) -> bool:
        return self.processor is not None or self.shopify is not None

    def _processor(self, capture_id: str | None) -> RefundProcessor | None:
        """Who pays a capture back: Shopify for an order paid through it, else the shop's
        processor (None: the ledger itself)."""
        if capture_id is None:
            return None
        if paid_through_shopify(capture_id):
            return self.shopify
        return self.processor

    async def _ask_unanswered(self, return_id: str) -> None:
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
            processor = self._processor(row.capture_id)
            if processor is None:
                continue
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

    async def _follow_pending(self, return_id: str, wait: float | None = None) -> None:
        """Ask about the return's refunds the processor answered `pending` until they settle or
        `pending_wait` runs out; a later failure frees the capture's money again."""
        wait = self.pending_wait if wait is None else wait
        deadline = asyncio.get_running_loop().time() + wait
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
                processor = self._processor(row.capture_id)
                if processor is None:
                    continue
                assert row.provider_ref is not None
                outcome = await processor.status(row.provider_ref)
                if outcome.status != "pending":
                    async with self.sessions.begin() as session:
                        # Unless an event of the processor's said more meanwhile.
                        await session.execute(
                            update(LedgerEntryRow)
                            .where(LedgerEntryRow.id == row.id, LedgerEntryRow.status == "pending")
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
                "id": f"rf_{derived(key, 20)}",
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
                "holder_email": request.holder if capture_id is None else None,
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


def bonus_key(return_id: str, sequence: int) -> str:
    """`bonus:{return}:{n}`: the bonus of the return's n-th refund, escaped as the refund's."""
    return "bonus:" + ":".join(quote(part, safe="") for part in (return_id, str(sequence)))


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
        issued_to=row.holder_email,
        reference=row.provider_ref,
    )
