"""The shop's look on its pages: its accent colour as a stylesheet of its own (the pages allow no
inline style), with a text colour on it that stays readable, and its logo."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from returns_service.config import Settings
from returns_service.documents.photos import NotAPhoto, checked_photo

router = APIRouter(prefix="/portal", include_in_schema=False)

LOGO_MAX_BYTES = 2 * 1024 * 1024


def _luminance(colour: str) -> float:
    """WCAG relative luminance of #rrggbb."""

    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_on(colour: str) -> str:
    """White or near-black, whichever contrasts more with the colour."""
    background = _luminance(colour)
    on_white = (1.05) / (background + 0.05)
    on_black = (background + 0.05) / (_luminance("#1b1f24") + 0.05)
    return "#ffffff" if on_white >= on_black else "#1b1f24"


@router.get("/brand.css")
async def brand_css(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    accent = settings.shop_accent.lower()
    css = f":root {{ --accent: {accent}; --accent-text: {text_on(accent)}; }}\n"
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=300"})


@lru_cache(maxsize=4)
def _logo(path: Path) -> tuple[bytes, str] | None:
    try:
        photo = checked_photo(path.read_bytes(), LOGO_MAX_BYTES)
    except (OSError, NotAPhoto):
        return None
    return photo.data, photo.content_type


@router.get("/logo")
async def logo(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    found = _logo(settings.shop_logo) if settings.shop_logo else None
    if found is None:
        return Response(status_code=404)
    data, content_type = found
    return Response(data, media_type=content_type, headers={"Cache-Control": "max-age=300"})


@router.get("/favicon.svg")
async def favicon(request: Request) -> Response:
    """The tab's icon: a parcel's return arrow on the shop's accent colour."""
    settings: Settings = request.app.state.settings
    accent = settings.shop_accent.lower()
    ink = text_on(accent)
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        f'<rect width="32" height="32" rx="7" fill="{accent}"/>'
        f'<path d="M12 9 6 15l6 6M7 15h12a6 6 0 0 1 0 12h-4" fill="none" stroke="{ink}"'
        ' stroke-width="3" stroke-linecap="round" stroke-linejoin="round"/></svg>'
    )
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "max-age=300"})
