"""Returns: create (starting the workflow), read, list, the actions people take, label, history."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from returns_service.api.auth import CUSTOMER, STAFF, Principal, allow
from returns_service.api.deps import SessionDep, SettingsDep, TemporalDep, WriteSessionDep
from returns_service.api.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Problem,
    TooManyRequests,
    Unavailable,
)
from returns_service.api.history import read_history
from returns_service.api.idempotency import (
    Answer,
    Idempotency,
    IdempotencyDep,
    key_seed,
)
from returns_service.api.ids import new_id
from returns_service.api.schemas import (
    ApproveIn,
    BulkActionIn,
    BulkActionOut,
    BulkError,
    BulkResult,
    CancelIn,
    CloseIn,
    History,
    ReceiveIn,
    RefundIn,
    RejectIn,
    ReplacementIn,
    ReturnCreate,
    ReturnOut,
    ReturnPage,
    ShipIn,
)
from returns_service.config import Settings
from returns_service.domain.messages import (
    STATE_QUERY,
    WORKFLOW_NAME,
    ApproveReturn,
    CancelReturn,
    CloseReturn,
    ReceiveItems,
    RefundReturn,
    RejectReturn,
    ReportReplacement,
    ReturnUpdate,
    ShipReturn,
    StartReturn,
    workflow_id,
)
from returns_service.domain.models import (
    Customer,
    Reason,
    ReplacementItem,
    Resolution,
    ReturnItem,
    ReturnState,
)
from returns_service.domain.status import TERMINAL, Status
from returns_service.domain.types import (
    EMAIL_LENGTH,
    ID_LENGTH,
    TRACKING_LENGTH,
    Moment,
    OneLine,
)
from returns_service.store.limits import take_slot
from returns_service.store.orders import (
    claim_tracking_number,
    current_policy,
    get_orders,
    held_quantities,
    release_tracking_number,
)
from returns_service.store.returns import (
    ReturnFilter,
    decode_cursor,
    get_return_document,
    list_returns,
)
from returns_service.store.tables import LabelRow, ReturnRow

router = APIRouter(prefix="/v1/returns", tags=["returns"])

# A read does not wait long for a busy or absent worker: the read model answers instead.
LIVE_STATE_SECONDS = 2.0

ReturnId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


def _by(*roles: str) -> Any:
    return Depends(allow(*roles))


# --- create ---------------------------------------------------------------------------------------


async def _resolve_items(
    session: AsyncSession, body: ReturnCreate, principal: Principal
) -> tuple[list[ReturnItem], Customer, str]:
    """Check the request against the order snapshots; every mistake names its field. A customer's
    request sees only their own orders: another's answers like one that does not exist."""
    orders = {
        order_id: order
        for order_id, order in (
            await get_orders(session, [item.order_id for item in body.items])
        ).items()
        if principal.may_see(order.customer.email)
    }
    held = await held_quantities(session, orders)
    items: list[ReturnItem] = []
    seen: set[tuple[str, str]] = set()
    for index, asked in enumerate(body.items):
        order = orders.get(asked.order_id)
        if order is None:
            raise InvalidInput(f"items[{index}].order_id", f"order {asked.order_id} does not exist")
        line = order.line(asked.line_id)
        if line is None:
            raise InvalidInput(
                f"items[{index}].line_id", f"order {order.number} has no line {asked.line_id}"
            )
        if (asked.order_id, asked.line_id) in seen:
            raise InvalidInput(f"items[{index}].line_id", "this order line is listed twice")
        seen.add((asked.order_id, asked.line_id))
        if asked.quantity > line.quantity:
            raise InvalidInput(
                f"items[{index}].quantity", f"only {line.quantity} of {line.name} were bought"
            )
        # Other returns hold the rest (the workflow decides again, under the order's lock, when
        # two returns race for the last units).
        left = line.quantity - held.get((order.id, line.id), 0)
        if asked.quantity > left:
            raise InvalidInput(
                f"items[{index}].quantity",
                f"only {max(left, 0)} of {line.name} can still be returned; other returns hold"
                " the rest",
            )
        items.append(
            ReturnItem(
                id=f"ri_{index + 1}",
                order_id=order.id,
                line_id=line.id,
                sku=line.sku,
                name=line.name,
                quantity=asked.quantity,
                reason=asked.reason,
                comment=asked.comment,
            )
        )
    involved = [orders[item.order_id] for item in items]
    emails = {order.customer.email.lower() for order in involved}
    if len(emails) > 1:
        raise InvalidInput("items", "the orders belong to different customers")
    currencies = {order.currency for order in involved}
    if len(currencies) > 1:
        raise InvalidInput("items", "the orders are in different currencies")
    email = emails.pop()
    if body.customer_email is not None and body.customer_email != email:
        raise InvalidInput("customer_email", "does not match the customer of the orders")
    if body.resolution is Resolution.EXCHANGE and not body.replacement_items:
        raise InvalidInput("replacement_items", "an exchange names the items to send instead")
    if body.resolution is not Resolution.EXCHANGE and body.replacement_items:
        raise InvalidInput("replacement_items", "only an exchange sends replacement items")
    first = involved[0].customer
    return items, Customer(id=first.id, email=email), currencies.pop()


@router.post(
    "",
    status_code=201,
    response_model=ReturnOut,
    responses={
        202: {
            "model": ReturnOut,
            "description": "Started, but no worker has decided it yet: it will be decided when "
            "one runs; read it at Location.",
        }
    },
)
async def create_return(
    body: ReturnCreate,
    read: SessionDep,
    write: WriteSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
    principal: Annotated[Principal, _by("integration", "agent", CUSTOMER)],
) -> Response:
    async def work() -> Answer:
        state, started = await _create(
            body, read, write, temporal, settings, principal, idempotency
        )
        return Answer(
            201 if started else 202,
            ReturnOut.build(state).model_dump(mode="json"),
            {"Location": f"/v1/returns/{state.id}"},
        )

    return await idempotency.run(principal, body, work)


async def _create(
    body: ReturnCreate,
    read: AsyncSession,
    write: AsyncSession,
    temporal: Client,
    settings: Settings,
    principal: Principal,
    idempotency: Idempotency,
) -> tuple[ReturnState, bool]:
    """Start the return's workflow and wait for its decision; False when no worker decided yet."""
    # With an Idempotency-Key the id comes from it: a repeat can only find the same workflow,
    # and a repeat whose first attempt started it (its answer lost with the API that gave it)
    # answers that return, not a check against the units it now holds itself.
    seed = key_seed(principal, idempotency.key) if idempotency.key else None
    return_id = new_id("ret", seed)
    if seed is not None and await _started(temporal, return_id) is not None:
        return await _decided(read, temporal, settings, return_id, principal)
    async with read.begin():
        items, customer, currency = await _resolve_items(read, body, principal)
        policy = await current_policy(read)
    if principal.is_customer:
        await _within_hourly_limit(write, customer.email, settings.customer_returns_per_hour)
    start = StartReturn(
        return_id=return_id,
        customer=customer,
        currency=currency,
        resolution=body.resolution,
        items=items,
        policy=policy,
        created_at=datetime.now(UTC),
        actor=principal.actor,
        replacement_items=[ReplacementItem(**item.model_dump()) for item in body.replacement_items],
    )
    operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        WORKFLOW_NAME,
        start,
        id=workflow_id(return_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        task_queue=settings.task_queue,
    )
    try:
        async with asyncio.timeout(settings.workflow_answer_seconds):
            state = await temporal.execute_update_with_start_workflow(
                ReturnUpdate.WAIT_DECIDED,
                start_workflow_operation=operation,
                result_type=ReturnState,
            )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # The return's workflow runs, but no worker has decided it yet (none running, or all
        # busy): it is safe and will be decided when one is. Say so rather than hang.
        if await _started(temporal, return_id) is None:
            raise Unavailable("the return could not be started; nothing was created") from None
        return start.initial_state(), False
    except WorkflowAlreadyStartedError as error:
        raise Conflict(
            f"this Idempotency-Key made return {return_id}, which has finished; use a new key",
            code="idempotency_key_expired",
        ) from error
    except RPCError as error:
        raise Unavailable(f"could not start the return: {error.message}") from error
    return state, True


async def _decided(
    read: AsyncSession,
    temporal: Client,
    settings: Settings,
    return_id: str,
    principal: Principal,
) -> tuple[ReturnState, bool]:
    """The return an earlier attempt with the same key started, once decided (False: not yet)."""
    current = await _document(read, temporal, return_id, principal)
    handle = temporal.get_workflow_handle(workflow_id(return_id))
    try:
        async with asyncio.timeout(settings.workflow_answer_seconds):
            state = await handle.execute_update(ReturnUpdate.WAIT_DECIDED, result_type=ReturnState)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return current, False
    except (RPCError, WorkflowUpdateFailedError):
        return current, current.status is not Status.REQUESTED  # it has finished meanwhile
    return state, True


async def _within_hourly_limit(session: AsyncSession, email: str, limit: int) -> None:
    """Each return may cost a shipping label: a customer creates at most `limit` an hour,
    counted atomically in the store however many requests arrive at once."""
    async with session.begin():
        wait = await take_slot(
            session, f"returns-per-hour:{email}", limit, timedelta(hours=1), datetime.now(UTC)
        )
    if wait is not None:
        raise TooManyRequests(
            f"at most {limit} returns an hour; try again later", max(int(wait.total_seconds()), 1)
        )


async def _started(temporal: TemporalDep, return_id: str) -> StartReturn | None:
    """The input of the return's workflow, if it has been started."""
    handle = temporal.get_workflow_handle(workflow_id(return_id))
    try:
        async for event in handle.fetch_history_events():
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [start] = await temporal.data_converter.decode(payloads, [StartReturn])
            return start  # type: ignore[no-any-return]
    except RPCError:
        pass
    return None


# --- read -----------------------------------------------------------------------------------------


async def _document(
    session: AsyncSession, temporal: TemporalDep, return_id: str, principal: Principal
) -> ReturnState:
    """The return from the read model; one whose workflow started but has not been picked up by
    a worker yet is answered from the workflow's input. Another customer's return answers like
    one that does not exist."""
    async with session.begin():
        state = await get_return_document(session, return_id)
    if state is None:
        start = await _started(temporal, return_id)
        if start is None:
            raise NotFound(f"return {return_id} does not exist")
        state = start.initial_state()
    principal.require_owner(state.customer.email, f"return {return_id}")
    return state


@router.get("", response_model=ReturnPage)
async def search_returns(
    read: SessionDep,
    principal: Annotated[Principal, _by(*STAFF, CUSTOMER)],
    status: Annotated[list[Status], Query()] = [],  # noqa: B006
    customer_email: Annotated[OneLine | None, Query(min_length=1, max_length=EMAIL_LENGTH)] = None,
    order_id: Annotated[OneLine | None, Query(min_length=1, max_length=ID_LENGTH)] = None,
    reason: Reason | None = None,
    number: Annotated[OneLine | None, Query(min_length=1, max_length=32)] = None,
    tracking_number: Annotated[
        OneLine | None, Query(min_length=1, max_length=TRACKING_LENGTH)
    ] = None,
    created_after: Annotated[Moment | None, Query()] = None,
    created_before: Annotated[Moment | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[OneLine | None, Query(min_length=1, max_length=500)] = None,
) -> ReturnPage:
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except ValueError as error:
            raise InvalidInput("cursor", str(error)) from error
    if principal.is_customer:
        # A customer's list is their own, whatever else it asks for.
        if customer_email is not None and not principal.may_see(customer_email):
            return ReturnPage(data=[], next_cursor=None)
        customer_email = principal.email
    filters = ReturnFilter(
        statuses=[s.value for s in status],
        customer_email=customer_email,
        order_id=order_id,
        reason=reason.value if reason else None,
        number=number,
        tracking_number=tracking_number,
        created_after=created_after,
        created_before=created_before,
    )
    async with read.begin():
        states, next_cursor = await list_returns(read, filters, limit, cursor)
    return ReturnPage(data=[ReturnOut.build(s) for s in states], next_cursor=next_cursor)


@router.get("/{return_id}", response_model=ReturnOut)
async def read_return(
    return_id: ReturnId,
    read: SessionDep,
    temporal: TemporalDep,
    principal: Annotated[Principal, _by(*STAFF, CUSTOMER)],
) -> ReturnOut:
    """The live state from the workflow; the read model (at most a moment behind) once the
    return is finished, or when no worker answers right now."""
    state = await _document(read, temporal, return_id, principal)
    if state.status not in TERMINAL:
        handle = temporal.get_workflow_handle(workflow_id(return_id))
        with contextlib.suppress(RPCError, TimeoutError):
            async with asyncio.timeout(LIVE_STATE_SECONDS):
                state = await handle.query(STATE_QUERY, result_type=ReturnState)
    return ReturnOut.build(state)


@router.get(
    "/{return_id}/label",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def read_label(
    return_id: ReturnId,
    read: SessionDep,
    principal: Annotated[Principal, _by(*STAFF, CUSTOMER)],
) -> Response:
    async with read.begin():
        found = (
            await read.execute(
                select(LabelRow, ReturnRow.customer_email)
                .join(ReturnRow, ReturnRow.id == LabelRow.return_id)
                .where(LabelRow.return_id == return_id)
            )
        ).first()
    if found is None or not principal.may_see(found[1]):
        raise NotFound(f"return {return_id} has no label")
    row = found[0]
    return Response(
        row.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="label-{row.tracking_number}.pdf"'},
    )


@router.get("/{return_id}/history", response_model=History)
async def read_return_history(
    return_id: ReturnId,
    read: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    principal: Annotated[Principal, _by("agent", "ops")],
) -> History:
    await _document(read, temporal, return_id, principal)
    return await read_history(temporal, settings, workflow_id(return_id))


# --- actions --------------------------------------------------------------------------------------


@dataclass
class Actions:
    """What every action route needs: the store, the Temporal client, the settings and the
    request's Idempotency-Key."""

    read: AsyncSession
    temporal: Client
    settings: Settings
    idempotency: Idempotency

    async def act(
        self,
        return_id: str,
        update: str,
        message_type: type[BaseModel],
        body: BaseModel,
        principal: Principal,
        done_already: Callable[[ReturnState], bool] | None = None,
    ) -> Response:
        """Deliver the decision once per Idempotency-Key. `done_already` tells a refusal that
        only says "this has happened" (answered 200 with the return) from a real one."""

        async def work() -> Answer:
            try:
                out = await self.deliver(return_id, update, message_type, body, principal)
            except Conflict:
                current = await _document(self.read, self.temporal, return_id, principal)
                if done_already is None or not done_already(current):
                    raise
                out = ReturnOut.build(current)
            return Answer(200, out.model_dump(mode="json"), {})

        return await self.idempotency.run(principal, body, work)

    async def deliver(
        self,
        return_id: str,
        update: str,
        message_type: type[BaseModel],
        body: BaseModel,
        principal: Principal,
    ) -> ReturnOut:
        """Deliver a person's decision to the return's workflow as an Update. The request bodies
        carry the same fields as the Update inputs, less the actor, which is the caller."""
        message = message_type.model_validate({"actor": principal.actor, **body.model_dump()})
        current = await _document(self.read, self.temporal, return_id, principal)
        handle = self.temporal.get_workflow_handle(workflow_id(return_id))
        try:
            async with asyncio.timeout(self.settings.workflow_answer_seconds):
                state = await handle.execute_update(update, message, result_type=ReturnState)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            waited = self.settings.workflow_answer_seconds
            raise Unavailable(
                f"the return's workflow did not answer within {waited:g} s; the request may"
                " still take effect when it does: read the return before repeating it"
            ) from None
        except WorkflowUpdateFailedError as failure:
            raise _refusal(failure, current) from failure
        except RPCError as error:
            current = await _document(self.read, self.temporal, return_id, principal)
            if current.status in TERMINAL:
                raise Conflict(
                    f"the return is {current.status.value}",
                    current_status=current.status.value,
                    available_actions=current.actions(),
                ) from error
            raise Unavailable(f"the return's workflow did not answer: {error.message}") from error
        return ReturnOut.build(state)


def get_actions(
    read: SessionDep, temporal: TemporalDep, settings: SettingsDep, idempotency: IdempotencyDep
) -> Actions:
    return Actions(read, temporal, settings, idempotency)


ActionsDep = Annotated[Actions, Depends(get_actions)]


def _refusal(failure: WorkflowUpdateFailedError, current: ReturnState) -> Exception:
    cause = failure.cause
    if not isinstance(cause, ApplicationError):
        return Conflict(str(cause or failure))
    details: dict[str, Any] = cause.details[0] if cause.details else {}
    if cause.type == "InvalidInput":
        return InvalidInput(details.get("field", "body"), cause.message.split(": ", 1)[-1])
    extra = {k: v for k, v in details.items() if k not in ("current_status", "available_actions")}
    return Conflict(
        cause.message,
        code=cause.type,
        current_status=details.get("current_status", current.status.value),
        available_actions=details.get("available_actions", current.actions()),
        **extra,
    )


@router.post("/{return_id}/approve", response_model=ReturnOut)
async def approve_return(
    return_id: ReturnId,
    body: ApproveIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("agent")],
) -> Response:
    return await actions.act(return_id, ReturnUpdate.APPROVE, ApproveReturn, body, principal)


@router.post("/{return_id}/reject", response_model=ReturnOut)
async def reject_return(
    return_id: ReturnId,
    body: RejectIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("agent")],
) -> Response:
    return await actions.act(return_id, ReturnUpdate.REJECT, RejectReturn, body, principal)


@router.post("/{return_id}/cancel", response_model=ReturnOut)
async def cancel_return(
    return_id: ReturnId,
    body: CancelIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("agent", CUSTOMER)],
) -> Response:
    return await actions.act(return_id, ReturnUpdate.CANCEL, CancelReturn, body, principal)


@router.post("/{return_id}/ship", response_model=ReturnOut)
async def ship_return(
    return_id: ReturnId,
    body: ShipIn,
    actions: ActionsDep,
    write: WriteSessionDep,
    principal: Annotated[Principal, _by("integration", "agent", CUSTOMER)],
) -> Response:
    """A tracking number belongs to one return: another return's parcel is refused, and a ship
    that is refused keeps no number."""
    if body.tracking_number is None:
        return await actions.act(return_id, ReturnUpdate.SHIP, ShipReturn, body, principal)
    current = await _document(actions.read, actions.temporal, return_id, principal)
    if "ship" not in current.actions():
        return await actions.act(return_id, ReturnUpdate.SHIP, ShipReturn, body, principal)
    async with write.begin():
        owner, fresh = await claim_tracking_number(
            write, body.tracking_number, return_id, datetime.now(UTC)
        )
    if owner != return_id:
        raise InvalidInput("tracking_number", "is the tracking number of another return")
    try:
        answer = await actions.act(return_id, ReturnUpdate.SHIP, ShipReturn, body, principal)
    except (Conflict, InvalidInput):  # refused for good (a 503 may still take effect)
        if fresh:
            async with write.begin():
                await release_tracking_number(write, body.tracking_number, return_id)
        raise
    return answer


@router.post("/{return_id}/receive", response_model=ReturnOut)
async def receive_return(
    return_id: ReturnId,
    body: ReceiveIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("warehouse", "agent")],
) -> Response:
    return await actions.act(return_id, ReturnUpdate.RECEIVE, ReceiveItems, body, principal)


@router.post("/{return_id}/refund", response_model=ReturnOut)
async def refund_return(
    return_id: ReturnId,
    body: RefundIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("agent")],
) -> Response:
    return await actions.act(return_id, ReturnUpdate.REFUND, RefundReturn, body, principal)


@router.post("/{return_id}/close", response_model=ReturnOut)
async def close_return(
    return_id: ReturnId,
    body: CloseIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("agent")],
) -> Response:
    return await actions.act(return_id, ReturnUpdate.CLOSE, CloseReturn, body, principal)


@router.post("/{return_id}/replacement", response_model=ReturnOut)
async def report_replacement(
    return_id: ReturnId,
    body: ReplacementIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("integration", "agent")],
) -> Response:
    """The exchange's replacement order was fulfilled or cancelled (repeating it is harmless,
    even once the return has closed)."""

    def reported(current: ReturnState) -> bool:
        return current.replacement is not None and current.replacement.status == body.status

    return await actions.act(
        return_id,
        ReturnUpdate.REPLACEMENT,
        ReportReplacement,
        body,
        principal,
        done_already=reported,
    )


BULK: dict[str, tuple[str, type[BaseModel], Callable[[str | None], BaseModel]]] = {
    "approve": (ReturnUpdate.APPROVE, ApproveReturn, lambda note: ApproveIn(note=note)),
    "reject": (ReturnUpdate.REJECT, RejectReturn, lambda note: RejectIn(reason=note)),
    "cancel": (ReturnUpdate.CANCEL, CancelReturn, lambda note: CancelIn(reason=note)),
    "close": (ReturnUpdate.CLOSE, CloseReturn, lambda note: CloseIn(note=note)),
}


@router.post("/actions", response_model=BulkActionOut)
async def bulk_action(
    body: BulkActionIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("agent")],
) -> Response:
    """One action on many returns; each gets its own result, and one failure stops nothing."""
    update, message_type, make = BULK[body.action]
    request = make(body.note)

    async def one(return_id: str) -> BulkResult:
        try:
            out = await actions.deliver(return_id, update, message_type, request, principal)
        except Problem as problem:
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
        return BulkResult(id=return_id, ok=True, status=out.status)

    async def work() -> Answer:
        results = []
        for return_id in dict.fromkeys(body.return_ids):
            results.append(await one(return_id))
        return Answer(200, BulkActionOut(results=results).model_dump(mode="json"), {})

    return await actions.idempotency.run(principal, body, work)
