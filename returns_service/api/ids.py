"""Time-ordered, unguessable ids (ULID layout: 48 bits of milliseconds, 80 random bits)."""

from __future__ import annotations

import hashlib
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str, seed: bytes | None = None) -> str:
    """A fresh id; given a seed (a client's idempotency key, hashed), always the same one."""
    if seed is not None:
        value = int.from_bytes(hashlib.sha256(seed).digest()[:16]) >> 2
    else:
        value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return f"{prefix}_{''.join(reversed(chars))}"
