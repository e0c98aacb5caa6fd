"""Returns: create (starting the workflow), read, list, the actions people take, label, history."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.api.auth import CUSTOMER, STAFF, Principal, allow
from returns_service.api.deps import (
    GatewayDep,
    ReadSessionsDep,
    SessionDep,
    SettingsDep,
    WriteSessionDep,
)
from returns_service.api.errors import InvalidInput, NotFound
from returns_service.api.history import read_history
from returns_service.api.idempotency import Answer, IdempotencyDep
from returns_service.api.schemas import (
    AddItemsIn,
    BulkActionIn,
    BulkActionOut,
    History,
    HistoryEvent,
    PhotoOut,
    Request,
    ReturnCreate,
    ReturnOut,
    ReturnPage,
)
from returns_service.domain.messages import workflow_id
from returns_service.domain.models import Reason
from returns_service.domain.status import TERMINAL, Status
from returns_service.domain.types import EMAIL_LENGTH, ID_LENGTH, TRACKING_LENGTH, Moment, OneLine
from returns_service.operations.act import ACTIONS, Action, Actions, act_on_many, ship
from returns_service.operations.create import add_to_return, create
from returns_service.operations.documents import (
    LIVE_STATE_SECONDS,
    document,
    label_response,
    photo_answer,
    qr_response,
)
from returns_service.store.photos import photos_of
from returns_service.store.returns import ReturnFilter, decode_cursor, list_returns, notes_after_end

router = APIRouter(prefix="/v1/returns", tags=["returns"])


ReturnId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


def _by(*roles: str) -> Any:
    return Depends(allow(*roles))


# --- create ---------------------------------------------------------------------------------------


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
    gateway: GatewayDep,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
    principal: Annotated[Principal, _by("integration", "agent", CUSTOMER)],
) -> Response:
    async def work() -> Answer:
        state, decided = await create(body, read, write, gateway, settings, principal, idempotency)
        return Answer(
            201 if decided else 202,
            ReturnOut.build(state, principal.is_customer).model_dump(mode="json"),
            {"Location": f"/v1/returns/{state.id}"},
        )

    return await idempotency.run(principal, body, work)


# --- read -----------------------------------------------------------------------------------------


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
    gift: bool | None = None
    if principal.is_gift:
        # A gift's recipient's list: the returns of that gift, whatever else it asks for.
        if customer_email is not None or order_id not in (None, principal.order_id):
            return ReturnPage(data=[], next_cursor=None)
        order_id, gift = principal.order_id, True
    elif principal.is_customer:
        # A customer's list is their own (not the returns of gifts they gave), whatever else it
        # asks for.
        if customer_email is not None and not principal.may_see(customer_email):
            return ReturnPage(data=[], next_cursor=None)
        customer_email, gift = principal.email, False
    filters = ReturnFilter(
        gift=gift,
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
    return ReturnPage(
        data=[ReturnOut.build(s, principal.is_customer) for s in states], next_cursor=next_cursor
    )


@router.get("/{return_id}", response_model=ReturnOut)
async def read_return(
    return_id: ReturnId,
    read: SessionDep,
    gateway: GatewayDep,
    principal: Annotated[Principal, _by(*STAFF, CUSTOMER)],
) -> ReturnOut:
    """The live state from the workflow; the read model (at most a moment behind) once the
    return is finished, or when no worker answers right now."""
    state = await document(read, gateway, return_id, principal)
    if state.status not in TERMINAL:
        state = await gateway.live_state(return_id, LIVE_STATE_SECONDS) or state
    return ReturnOut.build(state, principal.is_customer)


@router.get(
    "/{return_id}/label",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def read_label(
    return_id: ReturnId,
    read: SessionDep,
    write: WriteSessionDep,
    principal: Annotated[Principal, _by(*STAFF, CUSTOMER)],
) -> Response:
    """The label's PDF; the built-in carrier's is rendered on the first download and kept."""
    return await label_response(read, write, return_id, principal)


@router.get(
    "/{return_id}/label/qr",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def read_label_qr(
    return_id: ReturnId,
    read: SessionDep,
    principal: Annotated[Principal, _by(*STAFF, CUSTOMER)],
) -> Response:
    """A `qr_drop_off` return's drop-off code as a QR image, to show at the drop-off point."""
    return await qr_response(read, return_id, principal)


@router.get("/{return_id}/photos", response_model=list[PhotoOut])
async def list_photos(
    return_id: ReturnId,
    read: SessionDep,
    gateway: GatewayDep,
    principal: Annotated[Principal, _by("agent", "ops", CUSTOMER)],
) -> list[PhotoOut]:
    """The customer's photos of the returned items (from the portal), oldest first."""
    await document(read, gateway, return_id, principal)
    async with read.begin():
        rows = await photos_of(read, return_id)
    return [
        PhotoOut(
            id=row.id,
            item_id=row.item_id,
            content_type=row.content_type,
            size=row.size,
            url=f"/v1/returns/{return_id}/photos/{row.id}",
            created_at=row.created_at,
        )
        for row in rows
    ]


@router.get(
    "/{return_id}/photos/{photo_id}",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}},
)
async def read_photo(
    return_id: ReturnId,
    photo_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^ph_[0-9a-f]+$")],
    read: SessionDep,
    gateway: GatewayDep,
    principal: Annotated[Principal, _by("agent", "ops", CUSTOMER)],
) -> Response:
    """One photo, as the image it was checked to be."""
    await document(read, gateway, return_id, principal)
    answer = await photo_answer(read, return_id, photo_id)
    if answer is None:
        raise NotFound(f"return {return_id} has no photo {photo_id}")
    return answer


@router.get("/{return_id}/history", response_model=History)
async def read_return_history(
    return_id: ReturnId,
    read: SessionDep,
    gateway: GatewayDep,
    settings: SettingsDep,
    principal: Annotated[Principal, _by("agent", "ops")],
) -> History:
    state = await document(read, gateway, return_id, principal)
    history = await read_history(gateway, settings, workflow_id(return_id))
    # Notes kept after the workflow ended are in the store, not in its history.
    async with read.begin():
        after = await notes_after_end(read, state)
    history.events.extend(
        HistoryEvent(
            at=note.at,
            kind="note",
            summary=f"note by {note.actor.label()} after the workflow ended: {note.note}",
            actor=note.actor.label(),
        )
        for note in after
    )
    return history


# --- actions --------------------------------------------------------------------------------------


def get_actions(
    sessions: ReadSessionsDep, gateway: GatewayDep, idempotency: IdempotencyDep
) -> Actions:
    return Actions(sessions, gateway, idempotency)


ActionsDep = Annotated[Actions, Depends(get_actions)]


def _action_route(action: Action[Any, Any]) -> Callable[..., Awaitable[Response]]:
    """The route of one action: its body type and roles from the table."""

    async def route(
        return_id: str,
        body: Request,
        actions: Actions,
        write: AsyncSession,
        principal: Principal,
    ) -> Response:
        if action.name == "ship":
            return await ship(actions, write, return_id, body, principal)  # type: ignore[arg-type]
        return await actions.act(return_id, action, body, principal)

    parameters = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation)
        for name, annotation in (
            ("return_id", ReturnId),
            ("body", action.body),
            ("actions", ActionsDep),
            ("write", WriteSessionDep),
            ("principal", Annotated[Principal, _by(*action.roles)]),
        )
    ]
    route.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    route.__name__ = {
        "replacement": "report_replacement",
        "label": "reissue_label",
        "not-coming": "release_missing",
    }.get(action.name, f"{action.name}_return")
    route.__doc__ = action.description
    return route


for _action in ACTIONS.values():
    router.add_api_route(
        f"/{{return_id}}/{_action.name}",
        _action_route(_action),
        methods=["POST"],
        response_model=ReturnOut,
    )


@router.post("/{return_id}/items", response_model=ReturnOut)
async def add_items(
    return_id: ReturnId,
    body: AddItemsIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("agent", CUSTOMER)],
) -> Response:
    """Items the customer forgot, from their orders, added while the return is `approved` or
    `label_sent`: their eligibility is decided as for a new return (what it refuses, or for a
    customer sends to an agent, adds nothing: 422 on `items`); the estimate grows and the label
    stays the parcel's."""

    async def work() -> Answer:
        out = await add_to_return(actions, return_id, body, principal)
        return Answer(200, out.model_dump(mode="json"), {})

    return await actions.idempotency.run(principal, body, work)


@router.post("/actions", response_model=BulkActionOut)
async def bulk_action(
    body: BulkActionIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("agent")],
) -> Response:
    """One action on many returns; each gets its own result, and one failure stops nothing."""
    action = ACTIONS[body.action]
    assert action.from_note is not None
    request = action.from_note(body.note)

    async def work() -> Answer:
        results = await act_on_many(actions, action, request, principal, body.return_ids)
        return Answer(200, BulkActionOut(results=results).model_dump(mode="json"), {})

    return await actions.idempotency.run(principal, body, work)
