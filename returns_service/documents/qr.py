"""A drop-off code as a QR image (PNG), drawn when it is asked for (segno)."""

from __future__ import annotations

import io
from functools import lru_cache

import segno


@lru_cache(maxsize=256)
def qr_png(code: str) -> bytes:
    out = io.BytesIO()
    # Error correction M, a quiet zone of 4 modules, big enough to scan from a phone's screen.
    segno.make_qr(code, error="m").save(out, kind="png", scale=8, border=4)
    return out.getvalue()
