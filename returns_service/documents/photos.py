"""A customer's photo, checked by what it is, not by what it is called: Pillow must read it as
one of a few image formats, of a sane size, and decode every pixel, before anything is kept."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from io import BytesIO

from PIL import Image

# What a browser shows as it is, by the format Pillow found in the bytes.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
# A photo from a phone is below this (12 to 24 megapixels); a "decompression bomb" is far above.
MAX_PIXELS = 40_000_000


class NotAPhoto(ValueError):
    """Why the file cannot be kept: `reason` is "not_image" or "too_big"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Photo:
    data: bytes
    content_type: str
    sha256: str


def checked_photo(data: bytes, max_bytes: int) -> Photo:
    if len(data) > max_bytes:
        raise NotAPhoto("too_big")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as image:
                found = image.format
                width, height = image.size
                image.verify()  # its structure: a damaged or truncated file fails here
            if width * height > MAX_PIXELS:
                raise NotAPhoto("too_big")
            with Image.open(BytesIO(data)) as image:
                image.load()  # and every pixel: image data that is garbage fails here
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise NotAPhoto("too_big") from None
    except NotAPhoto:
        raise
    except Exception:  # noqa: BLE001 - anything Pillow cannot read is not a photo for us
        raise NotAPhoto("not_image") from None
    if found not in FORMATS:
        raise NotAPhoto("not_image")
    if width * height > MAX_PIXELS:
        raise NotAPhoto("too_big")
    return Photo(data, FORMATS[found], hashlib.sha256(data).hexdigest())
