"""A customer's photo, checked by what it is, not by what it is called: Pillow must read it as
one of a few image formats, of a sane size, and decode it, before anything is kept. What is kept
is bounded: a photo larger than a screen shows (or animated) is kept as a copy of its first frame,
its longest side 2048 pixels; one within that is kept as it came."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageOps

# What a browser shows as it is, by the format Pillow found in the bytes.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
# A photo from a phone is below this (12 to 24 megapixels); a "decompression bomb" is far above.
MAX_PIXELS = 25_000_000
# What one form's photos may add up to, decoded (a handful of phone photos).
FORM_PIXELS = 100_000_000
# The longest side of what is kept: enough to see a scratch on a screen.
LONGEST_SIDE = 2048


class NotAPhoto(ValueError):
    """Why the file cannot be kept: `reason` is "not_image", "too_big" (the file, or one photo's
    pixels) or "too_many_pixels" (the form's photos together)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Photo:
    data: bytes
    content_type: str
    sha256: str
    # The pixels of the photo as it came (what decoding it cost).
    pixels: int = 0


def checked_photo(data: bytes, max_bytes: int, max_pixels: int = MAX_PIXELS) -> Photo:
    """The photo to keep, or NotAPhoto. `max_pixels`: what this photo may have (at most
    MAX_PIXELS; less when its form has used up most of its budget, "too_many_pixels")."""
    if len(data) > max_bytes:
        raise NotAPhoto("too_big")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as image:
                found = image.format
                width, height = image.size
                image.verify()  # its structure: a damaged or truncated file fails here
            if found not in FORMATS:
                raise NotAPhoto("not_image")
            if width * height > MAX_PIXELS:
                raise NotAPhoto("too_big")
            if width * height > max_pixels:
                raise NotAPhoto("too_many_pixels")
            with Image.open(BytesIO(data)) as image:
                kept = _bounded(image, found, data)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise NotAPhoto("too_big") from None
    except NotAPhoto:
        raise
    except Exception:  # noqa: BLE001 - anything Pillow cannot read is not a photo for us
        raise NotAPhoto("not_image") from None
    body, content_type = kept
    return Photo(body, content_type, hashlib.sha256(body).hexdigest(), width * height)


def _bounded(image: Image.Image, found: str, data: bytes) -> tuple[bytes, str]:
    """Decode the photo (its first frame; a JPEG at the smallest scale that still covers the
    kept size, so a big one never costs its full size in memory) and answer what to keep."""
    animated = bool(getattr(image, "is_animated", False))
    within = max(image.size) <= LONGEST_SIDE and not animated
    if found == "JPEG" and not within:
        image.draft("RGB", (LONGEST_SIDE, LONGEST_SIDE))
    image.seek(0)
    image.load()  # every pixel (of the first frame): image data that is garbage fails here
    if within:
        return data, FORMATS[found]
    frame = ImageOps.exif_transpose(image)
    frame.thumbnail((LONGEST_SIDE, LONGEST_SIDE))
    out = BytesIO()
    if found == "JPEG":
        frame.convert("RGB").save(out, "JPEG", quality=88)
        return out.getvalue(), FORMATS["JPEG"]
    if found == "WEBP":
        frame.save(out, "WEBP", quality=88)
        return out.getvalue(), FORMATS["WEBP"]
    # A PNG, or a GIF's first frame, as a PNG (no animation is kept).
    if frame.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        frame = frame.convert("RGBA")
    frame.save(out, "PNG")
    return out.getvalue(), FORMATS["PNG"]
