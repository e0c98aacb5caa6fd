"""The shop's block and allow lists: a blocked customer's returns wait for an agent, who reads
why; an allowed customer's skip the review threshold and the frequent-returner review."""

from __future__ import annotations

from datetime import UTC as utc
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from returns_service.api.auth import Principal, allow
from returns_service.api.deps import SessionDep, WriteSessionDep
from returns_service.api.errors import Conflict, InvalidInput, NotFound
from returns_service.api.ids import new_id
from returns_service.api.schemas import Request
from returns_service.domain.types import Email, ShortText
from returns_service.store import lists
from returns_service.store.tables import CustomerListRow

router = APIRouter(prefix="/v1/customer-lists", tags=["customer lists"])

ListName = Literal["blocked", "allowed"]
EntryId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^cl_[0-9a-z]+$")]


class CustomerListIn(Request):
    list: ListName
    email: Email
    reason: ShortText | None = Field(
        default=None,
        description="Why: agents read it on the customer's returns (never the customer).",
    )


class CustomerListOut(BaseModel):
    id: str
    list: ListName
    email: str
    reason: str | None
    created_by: str
    created_at: datetime

    @classmethod
    def build(cls, row: CustomerListRow) -> CustomerListOut:
        return cls(
            id=row.id,
            list=row.list,  # type: ignore[arg-type]
            email=row.email,
            reason=row.reason,
            created_by=row.created_by,
            created_at=row.created_at,
        )


@router.post("", status_code=201, response_model=CustomerListOut)
async def add_to_list(
    body: CustomerListIn,
    write: WriteSessionDep,
    response: Response,
    principal: Annotated[Principal, Depends(allow("ops", "admin"))],
) -> CustomerListOut:
    """Put an address on a list; it applies to returns requested from now on. An address is on
    one list at most: one already listed is a 409 naming its entry."""
    async with write.begin():
        try:
            row = await lists.add_entry(
                write,
                new_id("cl"),
                body.list,
                body.email,
                body.reason or None,
                principal.actor.label(),
                datetime.now(utc),
            )
        except lists.Listed as error:
            raise Conflict(str(error), code="already_listed", entry_id=error.entry.id) from None
    response.headers["Location"] = f"/v1/customer-lists/{row.id}"
    return CustomerListOut.build(row)


class CustomerListPage(BaseModel):
    data: list[CustomerListOut]
    next_cursor: str | None


@router.get("", response_model=CustomerListPage)
async def read_lists(
    read: SessionDep,
    _: Annotated[Principal, Depends(allow("agent", "ops", "admin"))],
    list: Annotated[ListName | None, Query(description="Only this list.")] = None,  # noqa: A002
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=300, description="`next_cursor` of the page before."),
    ] = None,
) -> CustomerListPage:
    """The entries, newest first, a page at a time (like every list of the API)."""
    async with read.begin():
        try:
            rows, following = await lists.page_of_entries(read, list, limit, cursor)
        except ValueError:
            raise InvalidInput("cursor", "not a cursor this list gave") from None
    return CustomerListPage(
        data=[CustomerListOut.build(row) for row in rows], next_cursor=following
    )


@router.delete("/{entry_id}", status_code=204, response_class=Response)
async def remove_from_list(
    entry_id: EntryId,
    write: WriteSessionDep,
    _: Annotated[Principal, Depends(allow("ops", "admin"))],
) -> Response:
    """Take an address off its list; returns requested from now on are decided without it."""
    async with write.begin():
        if not await lists.remove_entry(write, entry_id):
            raise NotFound(f"list entry {entry_id} does not exist")
    return Response(status_code=204)
