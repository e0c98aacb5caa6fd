"""People's decisions on a return, carried to its workflow as Updates: the table of actions
(approve, receive, refund...), delivering one once per Idempotency-Key, the same on many
returns, and shipping with a tracking number that belongs to one return. For the API's routes
and the pages alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from fastapi import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.api.auth import CUSTOMER, Principal
from returns_service.api.errors import Conflict, InvalidInput, Problem, Unavailable
from returns_service.api.idempotency import Answer, Idempotency
from returns_service.api.schemas import (
    AddedItems,
    ApproveIn,
    BulkError,
    BulkResult,
    CancelIn,
    CloseIn,
    NotComingIn,
    NoteIn,
    ReceiveIn,
    RefundIn,
    ReissueIn,
    RejectIn,
    ReplacementIn,
    Request,
    ReturnOut,
    ShipIn,
)
from returns_service.domain.messages import (
    AddItems,
    AddNote,
    ApproveReturn,
    CancelReturn,
    CloseReturn,
    ReceiveItems,
    RefundReturn,
    ReissueLabel,
    RejectReturn,
    ReleaseMissing,
    ReportReplacement,
    ShipReturn,
)
from returns_service.domain.models import ReturnState
from returns_service.domain.status import TERMINAL
from returns_service.gateway import Decision, Finished, Gateway, NoAnswer, Refused, Unreachable
from returns_service.operations.documents import document
from returns_service.store.db import Sessions
from returns_service.store.orders import claim_tracking_number, release_tracking_number
from returns_service.store.returns import add_note
from returns_service.workflows.returns import ReturnWorkflow

# How many returns of a bulk action are asked at once.
BULK_AT_ONCE = 16


# A bulk action answers within the workflows' deadline and this much more.
BULK_GRACE_SECONDS = 5.0


@dataclass
class Actions:
    """What every action route needs: the store, the gateway to Temporal and the request's
    Idempotency-Key."""

    sessions: Sessions
    gateway: Gateway
    idempotency: Idempotency

    async def document(self, return_id: str, principal: Principal) -> ReturnState:
        """The return as the read model has it, in a session of its own (a bulk action reads
        several at once)."""
        async with self.sessions() as read:
            return await document(read, self.gateway, return_id, principal)

    async def act(
        self, return_id: str, action: Action[Any, Any], body: Request, principal: Principal
    ) -> Response:
        """Deliver the decision once per Idempotency-Key. The action's `done_already` tells a
        refusal that only says "this has happened" (answered 200 with the return) from a real
        one."""

        async def work() -> Answer:
            try:
                out = await self.deliver(return_id, action, body, principal)
            except Conflict:
                current = await self.document(return_id, principal)
                if action.done_already is None or not action.done_already(current, body):
                    raise
                out = ReturnOut.build(current, principal.is_customer)
            return Answer(200, out.model_dump(mode="json"), {})

        return await self.idempotency.run(principal, body, work)

    async def deliver(
        self, return_id: str, action: Action[Any, Any], body: Request, principal: Principal
    ) -> ReturnOut:
        """Deliver a person's decision to the return's workflow as an Update. The request bodies
        carry the same fields as the Update inputs, less the actor, which is the caller."""
        current = await self.document(return_id, principal)
        actor = principal.actor_on(current)
        message = action.message.model_validate({"actor": actor, **body.model_dump()})
        try:
            state = await self.gateway.decide(return_id, action.update, message)
        except NoAnswer as error:
            raise Unavailable(str(error)) from None
        except Refused as refusal:
            raise _refusal(refusal, current) from refusal
        except (Finished, Unreachable) as error:
            current = await self.document(return_id, principal)
            if current.status in TERMINAL and isinstance(message, AddNote):
                return await self.note_after_end(current, message, principal)
            if current.status in TERMINAL:
                raise Conflict(
                    f"the return is {current.status.value}",
                    current_status=current.status.value,
                    available_actions=current.actions(),
                ) from error
            raise Unavailable(str(error)) from error
        return ReturnOut.build(state, principal.is_customer)

    async def note_after_end(
        self, current: ReturnState, message: AddNote, principal: Principal
    ) -> ReturnOut:
        """A note on a return whose workflow has ended (rejected, cancelled, closed): the team
        still writes down what a caller said; kept in the store, read into the timeline."""
        if not message.text.strip():
            raise InvalidInput("text", "write the note")
        async with self.idempotency.sessions() as write, write.begin():
            await add_note(write, current.id, message.actor, message.text, datetime.now(UTC))
        return ReturnOut.build(current, principal.is_customer)


def _refusal(refusal: Refused, current: ReturnState) -> Exception:
    details = refusal.details
    if refusal.kind is None:
        return Conflict(refusal.message)
    if refusal.kind == "InvalidInput":
        return InvalidInput(details.get("field", "body"), refusal.message.split(": ", 1)[-1])
    extra = {k: v for k, v in details.items() if k not in ("current_status", "available_actions")}
    return Conflict(
        refusal.message,
        code=refusal.kind,
        current_status=details.get("current_status", current.status.value),
        available_actions=details.get("available_actions", current.actions()),
        **extra,
    )


M = TypeVar("M", bound=BaseModel)


B = TypeVar("B", bound=Request)


@dataclass(frozen=True)
class Action(Generic[M, B]):
    """One action people take on a return: its path, the Update it becomes, the request body,
    who may take it, and (for bulk) how a note makes its body."""

    name: str
    update: Decision[M]
    message: type[M]
    body: type[B]
    roles: tuple[str, ...]
    description: str
    # For bulk actions: the request a bulk note makes.
    from_note: Callable[[str | None], B] | None = None
    # A refusal that only says "this has happened already" (answered 200 with the return).
    done_already: Callable[[ReturnState, B], bool] | None = None


def _reported(current: ReturnState, body: ReplacementIn) -> bool:
    """The same report again (the same status, and no other order than the one reported)."""
    sent = current.replacement
    return (
        sent is not None
        and sent.status == body.status
        and not (body.order_reference and sent.order_reference != body.order_reference)
    )


ACTIONS: dict[str, Action[Any, Any]] = {
    action.name: action
    for action in (
        Action(
            "approve",
            ReturnWorkflow.approve,
            ApproveReturn,
            ApproveIn,
            ("agent",),
            "Approve a return waiting for review.",
            from_note=lambda note: ApproveIn(note=note),
        ),
        Action(
            "reject",
            ReturnWorkflow.reject,
            RejectReturn,
            RejectIn,
            ("agent",),
            "Reject a return under review, or one received that will not be paid back.",
            from_note=lambda note: RejectIn(reason=note),
        ),
        Action(
            "cancel",
            ReturnWorkflow.cancel,
            CancelReturn,
            CancelIn,
            ("agent", CUSTOMER),
            "Cancel a return before its parcel is on its way.",
            from_note=lambda note: CancelIn(reason=note),
        ),
        Action(
            "ship",
            ReturnWorkflow.ship,
            ShipReturn,
            ShipIn,
            ("integration", "agent", CUSTOMER),
            "The parcel is on its way. A tracking number belongs to one return: another"
            " return's parcel is refused, and a ship that is refused keeps no number.",
        ),
        Action(
            "receive",
            ReturnWorkflow.receive,
            ReceiveItems,
            ReceiveIn,
            ("warehouse", "agent"),
            "What arrived, and in what condition.",
        ),
        Action(
            "refund",
            ReturnWorkflow.refund_by_agent,
            RefundReturn,
            RefundIn,
            ("agent",),
            "Pay back an amount (default: what the policy pays back), up to what is left.",
        ),
        Action(
            "close",
            ReturnWorkflow.close,
            CloseReturn,
            CloseIn,
            ("agent",),
            "Close a received or refunded return.",
            from_note=lambda note: CloseIn(note=note),
        ),
        Action(
            "not-coming",
            ReturnWorkflow.not_coming,
            ReleaseMissing,
            NotComingIn,
            ("agent",),
            "The units a partial receipt left missing (`quantity_missing`) are not coming:"
            " released to their orders (returnable again) before `missing_until`, with the"
            " reason in the timeline; the customer is told.",
        ),
        Action(
            "note",
            ReturnWorkflow.note,
            AddNote,
            NoteIn,
            ("agent", "ops"),
            "An internal note on the return, in its timeline and history with its author; never"
            " shown to the customer.",
        ),
        Action(
            "label",
            ReturnWorkflow.reissue_label,
            ReissueLabel,
            ReissueIn,
            ("agent", CUSTOMER),
            "A new label for an expired return, within the policy's `label_reissue_days` after it"
            " expired: its units are held again and it is `label_sent` with a new expiry.",
        ),
        Action(
            "replacement",
            ReturnWorkflow.report_replacement,
            ReportReplacement,
            ReplacementIn,
            ("integration", "agent"),
            "The exchange's replacement order was fulfilled or cancelled (repeating it is"
            " harmless, even once the return has closed).",
            done_already=_reported,
        ),
    )
}


async def ship(
    actions: Actions, write: AsyncSession, return_id: str, body: ShipIn, principal: Principal
) -> Response:
    """A tracking number belongs to one return: claimed before the Update, given back if the
    return refuses it for good (a 503 may still take effect)."""
    ship = ACTIONS["ship"]
    if body.tracking_number is None:
        return await actions.act(return_id, ship, body, principal)
    current = await actions.document(return_id, principal)
    if "ship" not in current.actions():
        return await actions.act(return_id, ship, body, principal)
    async with write.begin():
        owner, fresh = await claim_tracking_number(
            write, body.tracking_number, return_id, datetime.now(UTC)
        )
    if owner != return_id:
        raise InvalidInput("tracking_number", "is the tracking number of another return")
    try:
        return await actions.act(return_id, ship, body, principal)
    except (Conflict, InvalidInput):
        if fresh:
            async with write.begin():
                await release_tracking_number(write, body.tracking_number, return_id)
        raise


ADD_ITEMS: Action[AddItems, AddedItems] = Action(
    "items",
    ReturnWorkflow.add_items,
    AddItems,
    AddedItems,
    ("agent", CUSTOMER),
    "Add forgotten items.",
)


async def act_on_many(
    actions: Actions,
    action: Action[Any, Any],
    request: Request,
    principal: Principal,
    return_ids: list[str],
) -> list[BulkResult]:
    """One action on many returns, for the API and the console: a result each, and one failure
    stops nothing. Several at once, so that returns whose workflows do not answer cost one
    deadline, not one each; what has not answered by the request's own deadline is said so."""

    async def one(return_id: str) -> BulkResult:
        try:
            out = await actions.deliver(return_id, action, request, principal)
        except Problem as problem:
            return _failed(return_id, problem)
        return BulkResult(id=return_id, ok=True, status=out.status)

    room = asyncio.Semaphore(BULK_AT_ONCE)

    async def in_turn(return_id: str) -> BulkResult:
        async with room:
            return await one(return_id)

    ids = list(dict.fromkeys(return_ids))
    tasks = [asyncio.ensure_future(in_turn(r)) for r in ids]
    await asyncio.wait(tasks, timeout=actions.gateway.answer_seconds + BULK_GRACE_SECONDS)
    late = [task for task in tasks if not task.done()]
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    results = []
    for return_id, task in zip(ids, tasks, strict=True):
        if not task.cancelled():
            results.append(task.result())
            continue
        unanswered = Unavailable(
            "no answer within the request's deadline; the action may still take effect:"
            " read the return before repeating it"
        )
        results.append(_failed(return_id, unanswered))
    return results


def _failed(return_id: str, problem: Problem) -> BulkResult:
    return BulkResult(
        id=return_id,
        ok=False,
        error=BulkError(
            status=problem.status,
            title=problem.title,
            detail=problem.detail,
            code=problem.extra.get("code"),
            current_status=problem.extra.get("current_status"),
        ),
    )
