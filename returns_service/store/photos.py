"""The customers' photos of returned items."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.documents.photos import Photo
from returns_service.domain.ids import derived
from returns_service.store.tables import ReturnPhotoRow
from returns_service.store.upsert import insert_once


async def keep_photos(
    session: AsyncSession,
    return_id: str,
    photos: list[tuple[str, Photo]],
    now: datetime,
    per_item: int,
) -> None:
    """Keep each (item id, photo) of the return, once however often asked, and never more than
    `per_item` of one item."""
    held = dict(
        (
            await session.execute(
                select(ReturnPhotoRow.item_id, func.count())
                .where(ReturnPhotoRow.return_id == return_id)
                .group_by(ReturnPhotoRow.item_id)
            )
        ).all()
    )
    for item_id, photo in photos:
        if held.get(item_id, 0) >= per_item:
            continue
        held[item_id] = held.get(item_id, 0) + 1
        await insert_once(
            session,
            ReturnPhotoRow,
            {
                "id": "ph_" + derived(f"{return_id}:{item_id}:{photo.sha256}", 24),
                "return_id": return_id,
                "item_id": item_id,
                "content_type": photo.content_type,
                "size": len(photo.data),
                "sha256": photo.sha256,
                "data": photo.data,
                "created_at": now,
            },
        )


async def photos_of(session: AsyncSession, return_id: str) -> list[ReturnPhotoRow]:
    """The return's photos, without their bytes loaded."""
    rows = await session.execute(
        select(
            ReturnPhotoRow.id,
            ReturnPhotoRow.item_id,
            ReturnPhotoRow.content_type,
            ReturnPhotoRow.size,
            ReturnPhotoRow.created_at,
        )
        .where(ReturnPhotoRow.return_id == return_id)
        .order_by(ReturnPhotoRow.created_at, ReturnPhotoRow.id)
    )
    return [
        ReturnPhotoRow(
            id=r.id,
            item_id=r.item_id,
            content_type=r.content_type,
            size=r.size,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def get_photo(session: AsyncSession, return_id: str, photo_id: str) -> ReturnPhotoRow | None:
    row = await session.get(ReturnPhotoRow, photo_id)
    return row if row is not None and row.return_id == return_id else None
