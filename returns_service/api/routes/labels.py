"""A label opened from the label email without signing in: `GET /v1/labels/{label_id}/label.pdf`
(a printed label) or `.../qr.png` (a drop-off code), with the link's `expires` and `signature`
(made by the worker with the service's link key). It opens that label only, until the label
expires, and not once its return will not be sent; anything else is 404, as for a label one may
not see."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from returns_service.api.deps import SessionDep, SettingsDep, WriteSessionDep
from returns_service.api.errors import NotFound
from returns_service.domain.links import label_link_holds
from returns_service.operations.documents import label_response, qr_response
from returns_service.store.tables import LabelRow

router = APIRouter(prefix="/v1/labels", tags=["returns"])

# One answer for every link that opens nothing (it names nothing of the shop's).
GONE = "this link opens no label: it expired, the label was replaced, or its return was cancelled"

LabelId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Expires = Annotated[int, Query(ge=0, le=2**40, description="The link's expiry (Unix time).")]
Signature = Annotated[str, Query(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]


async def _signed(
    read: SessionDep, settings: SettingsDep, label_id: str, expires: int, signature: str
) -> str:
    """The label's return, when the link holds and the label has not expired."""
    async with read.begin():
        label = await read.get(LabelRow, label_id)
    if (
        label is None
        or not label_link_holds(settings.link_key(), label_id, expires, signature, label.expires_at)
        or datetime.now(UTC) >= _aware(label.expires_at)
    ):
        raise NotFound(GONE)
    return label.return_id


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get(
    "/{label_id}/label.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def label_by_link(
    label_id: LabelId,
    expires: Expires,
    signature: Signature,
    read: SessionDep,
    write: WriteSessionDep,
    settings: SettingsDep,
) -> Response:
    """The label's PDF, by the link in the label email (no sign-in)."""
    return_id = await _signed(read, settings, label_id, expires, signature)
    try:
        return await label_response(read, write, return_id, None)
    except NotFound:
        raise NotFound(GONE) from None


@router.get(
    "/{label_id}/qr.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def qr_by_link(
    label_id: LabelId,
    expires: Expires,
    signature: Signature,
    read: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A drop-off return's QR code, by the link in the label email (no sign-in)."""
    return_id = await _signed(read, settings, label_id, expires, signature)
    try:
        return await qr_response(read, return_id, None)
    except NotFound:
        raise NotFound(GONE) from None
