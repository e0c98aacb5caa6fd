"""Reading one return for the people allowed to see it, and its documents (the label as a PDF
or a QR code, the photos), for the API's routes and the pages alike."""

from __future__ import annotations

import asyncio

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.api.auth import Principal
from returns_service.api.errors import NotFound
from returns_service.documents.label_pdf import label_pdf
from returns_service.documents.qr import qr_png
from returns_service.domain.models import ReturnState
from returns_service.domain.status import RELEASED
from returns_service.gateway import Gateway
from returns_service.store.photos import get_photo
from returns_service.store.returns import get_label, get_return_document, keep_label_pdf
from returns_service.store.tables import LabelRow

# A read does not wait long for a busy or absent worker: the read model answers instead.
LIVE_STATE_SECONDS = 2.0


async def document(
    session: AsyncSession, gateway: Gateway, return_id: str, principal: Principal
) -> ReturnState:
    """The return from the read model; one whose workflow started but has not been picked up by
    a worker yet is answered from the workflow's input. Another customer's return answers like
    one that does not exist."""
    async with session.begin():
        state = await get_return_document(session, return_id)
    if state is None:
        start = await gateway.started(return_id)
        if start is None or await gateway.ended(return_id):
            # (A run that ended with nothing in the read model was never made: its units were
            # taken by another return while it was requested.)
            raise NotFound(f"return {return_id} does not exist")
        state = start.initial_state()
    elif not principal.may_see_return(state):
        # As long as for a return that does not exist (which asks Temporal too), so that the
        # time of the answer does not tell whether someone else's return has this id.
        await gateway.started(return_id)
    principal.require_return(state, f"return {return_id}")
    return state


async def qr_response(read: AsyncSession, return_id: str, principal: Principal | None) -> Response:
    """The return's drop-off QR as a PNG, for the API and the portal: NotFound as for a label."""
    label = await _valid_label(read, return_id, principal)
    if label.drop_off_code is None:
        raise NotFound(f"return {return_id} is sent with a printed label, not a drop-off code")
    # The carrier's own QR image where it made one (EasyPost), else drawn from the code.
    carriers = label.pdf if label.pdf and label.pdf.startswith(b"\x89PNG") else None
    return Response(
        carriers or qr_png(label.drop_off_code),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600"},
    )


async def _valid_label(read: AsyncSession, return_id: str, principal: Principal | None) -> LabelRow:
    """The return's label: NotFound when it has none, it is someone else's, or it is void (the
    return will not be sent). No principal: asked by a signed link, checked by its caller."""
    async with read.begin():
        label = await get_label(read, return_id)
        state = await get_return_document(read, return_id) if label is not None else None
    allowed = principal is None or (state is not None and principal.may_see_return(state))
    if label is None or state is None or not allowed:
        raise NotFound(f"return {return_id} has no label")
    if state.status in RELEASED:  # it will not be sent: its label must not be printed and posted
        raise NotFound(
            f"the label of return {return_id} is void: the return is {state.status.value}"
        )
    return label


async def label_response(
    read: AsyncSession,
    write: AsyncSession,
    return_id: str,
    principal: Principal | None,
    disposition: str = "inline",
) -> Response:
    """The return's label as a PDF, for the API and the portal: NotFound when it has none, it
    is someone else's, or it is void (the return will not be sent)."""
    label = await _valid_label(read, return_id, principal)
    if label.drop_off_code is not None:
        raise NotFound(f"return {return_id} has nothing to print: show its drop-off QR code")
    pdf = label.pdf
    if pdf is None:
        pdf = await asyncio.to_thread(label_pdf, label)
        async with write.begin():
            await keep_label_pdf(write, label.id, pdf)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'{disposition}; filename="label-{label.tracking_number}.pdf"'
        },
    )


async def photo_answer(read: AsyncSession, return_id: str, photo_id: str) -> Response | None:
    """A kept photo as the image it was checked to be, for the API and the pages; None when the
    return has no such photo."""
    async with read.begin():
        kept = await get_photo(read, return_id, photo_id)
    if kept is None:
        return None
    return Response(
        kept.data,
        media_type=kept.content_type,
        headers={
            "Cache-Control": "private, max-age=3600",
            "Content-Disposition": "inline",
            "X-Content-Type-Options": "nosniff",
        },
    )
